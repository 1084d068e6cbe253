package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tether-rt/tether/adminui"
	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/socketio/parser"
)

//go:embed openapi.yaml
var openAPI []byte

// maxAPIBody bounds the body of an API request.
const maxAPIBody = 1 << 20

// apiHandler serves the backend API under /api/.
func (s *Server) apiHandler() http.Handler {
	keys := make([][32]byte, len(s.cfg.API.Keys))
	for i, k := range s.cfg.API.Keys {
		keys[i] = sha256.Sum256([]byte(k))
	}
	mux := http.NewServeMux()
	endpoints := map[string]bool{}
	handle := func(method, path string, fn func(w http.ResponseWriter, r *http.Request) (int, any)) {
		endpoints[path] = true
		mux.HandleFunc(method+" "+path, func(w http.ResponseWriter, r *http.Request) {
			status, body := s.apiAuth(keys, r)
			if status == 0 {
				status, body = fn(w, r)
			}
			s.metrics.apiRequests.WithLabelValues(path, strconv.Itoa(status)).Inc()
			writeJSON(w, status, body)
		})
	}
	handle("POST", "/api/emit", s.apiEmit)
	handle("GET", "/api/rooms", s.apiRooms)
	handle("GET", "/api/sockets", s.apiSockets)
	handle("POST", "/api/sockets/join", func(w http.ResponseWriter, r *http.Request) (int, any) { return s.apiMembership(w, r, true) })
	handle("POST", "/api/sockets/leave", func(w http.ResponseWriter, r *http.Request) (int, any) { return s.apiMembership(w, r, false) })
	handle("POST", "/api/sockets/disconnect", s.apiDisconnect)
	handle("GET", "/api/stats", s.apiStats)
	mux.HandleFunc("GET /api/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openAPI)
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if endpoints[r.URL.Path] || r.URL.Path == "/api/openapi.yaml" {
			writeJSON(w, http.StatusMethodNotAllowed, apiError("method %s not allowed", r.Method))
			return
		}
		writeJSON(w, http.StatusNotFound, apiError("no such endpoint %s", r.URL.Path))
	})
	return mux
}

// apiAuth checks the API key; it returns 0 when the request may proceed.
func (s *Server) apiAuth(keys [][32]byte, r *http.Request) (int, any) {
	if len(keys) == 0 {
		return http.StatusUnauthorized, apiError("the API is disabled: no API key is configured (api.keys, TETHER_API_KEY)")
	}
	key := r.Header.Get("X-API-Key")
	if auth := r.Header.Get("Authorization"); key == "" && auth != "" {
		scheme, k, _ := strings.Cut(auth, " ")
		if strings.EqualFold(scheme, "Bearer") {
			key = strings.TrimSpace(k)
		}
	}
	if key == "" {
		return http.StatusUnauthorized, apiError("missing API key")
	}
	sum := sha256.Sum256([]byte(key))
	match := 0
	for i := range keys {
		match |= subtle.ConstantTimeCompare(sum[:], keys[i][:])
	}
	if match != 1 {
		s.log.Info("API request with a wrong key", "remote", r.RemoteAddr, "path", r.URL.Path)
		return http.StatusUnauthorized, apiError("invalid API key")
	}
	return 0, nil
}

type errorBody struct {
	Error string `json:"error"`
}

func apiError(format string, args ...any) errorBody {
	return errorBody{fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tether"`)
	}
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(body)
}

// decodeBody decodes a JSON request body strictly.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) (int, any) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, apiError("body larger than %d bytes", maxAPIBody)
		}
		return http.StatusBadRequest, apiError("invalid JSON body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return http.StatusBadRequest, apiError("invalid JSON body: data after the object")
	}
	return 0, nil
}

// roomList is a list of rooms (or socket ids) of an API request, with the
// name of its field.
type roomList struct {
	field string
	rooms []string
}

// tooManyRooms refuses a request with a list longer than api.max_rooms;
// it returns 0 when there is none.
func (s *Server) tooManyRooms(r *http.Request, lists ...roomList) (int, any) {
	max := s.cfg.API.MaxRooms
	if max <= 0 {
		return 0, nil
	}
	for _, l := range lists {
		if len(l.rooms) > max {
			s.log.Info("refused an API request with too many rooms", "path", r.URL.Path, "list", l.field,
				"entries", len(l.rooms), "max", max, "remote", r.RemoteAddr)
			return http.StatusRequestEntityTooLarge,
				apiError("%q lists %d entries, more than the %d a request may name (api.max_rooms)", l.field, len(l.rooms), max)
		}
	}
	return 0, nil
}

// namespace returns the namespace named name ("/" when empty).
func (s *Server) namespace(name string) (*socketio.Namespace, *nsRules, int, any) {
	if name == "" {
		name = "/"
	}
	if r := s.rules[name]; r != nil {
		return r.nsp, r, 0, nil
	}
	if slices.Contains(s.io.Namespaces(), name) {
		return s.io.Of(name), nil, 0, nil
	}
	return nil, nil, http.StatusNotFound, apiError("unknown namespace %q", name)
}

func (s *Server) apiEmit(w http.ResponseWriter, r *http.Request) (int, any) {
	var req struct {
		Namespace string          `json:"namespace"`
		Rooms     []string        `json:"rooms"`
		Except    []string        `json:"except"`
		Event     string          `json:"event"`
		Data      json.RawMessage `json:"data"`
	}
	if status, body := decodeBody(w, r, &req); status != 0 {
		return status, body
	}
	if status, body := s.tooManyRooms(r, roomList{"rooms", req.Rooms}, roomList{"except", req.Except}); status != 0 {
		return status, body
	}
	if req.Event == "" || parser.IsReservedEvent(req.Event) {
		return http.StatusBadRequest, apiError("invalid event %q", req.Event)
	}
	nsp, rules, status, body := s.namespace(req.Namespace)
	if status != 0 {
		return status, body
	}
	if !s.Ready() {
		return http.StatusServiceUnavailable, apiError("server shutting down")
	}
	// The clients get event(data, meta) as from a client's publish, with
	// from and user null: the backend sent it. meta.room is the room when
	// the request names one; with several rooms or none it is null (the
	// broadcast is encoded once for every receiver).
	data := req.Data
	if data == nil {
		data = json.RawMessage("null")
	}
	meta := map[string]any{"room": nil, "from": nil, "user": nil}
	if len(req.Rooms) == 1 {
		meta["room"] = req.Rooms[0]
	}
	if rules == nil {
		rules = &nsRules{cfg: NamespaceConfig{Name: nsp.Name()}}
	}
	op := nsp.To(req.Rooms...).Except(req.Except...)
	count := func(ctx context.Context) (int, error) {
		ids, err := op.Local().AllSockets(ctx)
		return len(ids), err
	}
	// In a cluster, the answer waits until the broker has the event: a
	// 202 tells the backend that the other servers will get it.
	marker, _ := nsp.Adapter().(socketio.PublishMarker)
	var confirm func(func(error))
	if marker != nil {
		confirm = marker.MarkPublish()
	}
	n, err := s.emit(rules, op, count, req.Event, data, meta)
	if err != nil {
		return http.StatusInternalServerError, apiError("failed to emit: %v", err)
	}
	if confirm != nil {
		ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
		defer cancel()
		errc := make(chan error, 1)
		confirm(func(err error) { errc <- err })
		select {
		case err = <-errc:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			s.log.Warn("failed to publish to the other servers", "namespace", nsp.Name(), "err", err)
			return http.StatusServiceUnavailable, apiError("emitted on this server; failed to publish to the other servers: %v", err)
		}
	}
	return http.StatusAccepted, map[string]int{"receivers": n}
}

type roomInfo struct {
	Name    string `json:"name"`
	Sockets int    `json:"sockets"`
}

func (s *Server) apiRooms(w http.ResponseWriter, r *http.Request) (int, any) {
	nsp, _, status, body := s.namespace(r.URL.Query().Get("namespace"))
	if status != 0 {
		return status, body
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	rooms, err := s.rooms(ctx, nsp)
	if err != nil {
		return http.StatusInternalServerError, apiError("failed to list rooms: %v", err)
	}
	return http.StatusOK, map[string]any{"namespace": nsp.Name(), "rooms": rooms}
}

// rooms lists a namespace's rooms but the sockets' own ones.
func (s *Server) rooms(ctx context.Context, nsp *socketio.Namespace) ([]roomInfo, error) {
	all, err := nsp.Adapter().AllRooms(ctx)
	if err = s.tolerate(err, "listing rooms"); err != nil {
		return nil, err
	}
	socks, err := nsp.FetchSockets(ctx)
	if err = s.tolerate(err, "listing rooms"); err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	counts := map[string]int{}
	for _, sock := range socks {
		ids[sock.ID] = true
		for _, room := range sock.Rooms {
			counts[room]++
		}
	}
	out := []roomInfo{}
	for _, room := range all {
		if !ids[room] {
			out = append(out, roomInfo{room, counts[room]})
		}
	}
	slices.SortFunc(out, func(a, b roomInfo) int { return strings.Compare(a.Name, b.Name) })
	return slices.CompactFunc(out, func(a, b roomInfo) bool { return a.Name == b.Name }), nil
}

type socketInfo struct {
	ID          string         `json:"id"`
	User        string         `json:"user,omitempty"`
	Rooms       []string       `json:"rooms"`
	Address     string         `json:"address,omitempty"`
	Transport   string         `json:"transport,omitempty"`
	ConnectedAt time.Time      `json:"connected_at"`
	Data        map[string]any `json:"data,omitempty"`
}

func (s *Server) apiSockets(w http.ResponseWriter, r *http.Request) (int, any) {
	q := r.URL.Query()
	nsp, _, status, body := s.namespace(q.Get("namespace"))
	if status != 0 {
		return status, body
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	op := nsp.In()
	if room := q.Get("room"); room != "" {
		op = nsp.In(room)
	}
	socks, err := op.FetchSockets(ctx)
	if err = s.tolerate(err, "listing sockets"); err != nil {
		return http.StatusInternalServerError, apiError("failed to list sockets: %v", err)
	}
	out := make([]socketInfo, 0, len(socks))
	for _, rs := range socks {
		// Not the admin UI's bookkeeping (development mode keeps each
		// socket's client id and transport in its data, as Node's does).
		info := socketInfo{ID: rs.ID, Rooms: []string{}, Data: adminui.UserData(rs.Data)}
		info.User, _ = rs.Data["user"].(string)
		for _, room := range rs.Rooms {
			if room != rs.ID {
				info.Rooms = append(info.Rooms, room)
			}
		}
		slices.Sort(info.Rooms)
		if h := rs.Handshake; h != nil {
			info.Address = s.ips.clientIP(h.Address, h.Headers)
			info.ConnectedAt = h.Time.UTC()
		}
		if l := rs.Local(); l != nil {
			info.Transport = l.Transport()
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b socketInfo) int { return strings.Compare(a.ID, b.ID) })
	return http.StatusOK, map[string]any{"namespace": nsp.Name(), "sockets": out}
}

// selection is the part of a request body that selects sockets.
type selection struct {
	Namespace string   `json:"namespace"`
	Sockets   []string `json:"sockets"` // socket ids
	In        []string `json:"in"`      // rooms
	Except    []string `json:"except"`  // rooms (socket ids too)
	All       bool     `json:"all"`     // every socket of the namespace
}

// lists returns the selection's lists of rooms and socket ids.
func (sel *selection) lists() []roomList {
	return []roomList{{"sockets", sel.Sockets}, {"in", sel.In}, {"except", sel.Except}}
}

// selected returns the sockets a selection designates.
func (s *Server) selected(ctx context.Context, sel *selection) (*socketio.Namespace, []*socketio.RemoteSocket, int, any) {
	if !sel.All && len(sel.Sockets) == 0 && len(sel.In) == 0 {
		return nil, nil, http.StatusBadRequest, apiError(`select sockets with "sockets" (ids), "in" (rooms) or "all": true`)
	}
	nsp, _, status, body := s.namespace(sel.Namespace)
	if status != 0 {
		return nil, nil, status, body
	}
	var rooms []string
	if !sel.All {
		rooms = append(append(rooms, sel.Sockets...), sel.In...)
	}
	socks, err := nsp.In(rooms...).Except(sel.Except...).FetchSockets(ctx)
	if err = s.tolerate(err, "selecting sockets"); err != nil {
		return nil, nil, http.StatusInternalServerError, apiError("failed to select sockets: %v", err)
	}
	return nsp, socks, 0, nil
}

func (s *Server) apiMembership(w http.ResponseWriter, r *http.Request, join bool) (int, any) {
	var req struct {
		selection
		Rooms []string `json:"rooms"` // the rooms to join or leave
	}
	if status, body := decodeBody(w, r, &req); status != 0 {
		return status, body
	}
	if status, body := s.tooManyRooms(r, append(req.lists(), roomList{"rooms", req.Rooms})...); status != 0 {
		return status, body
	}
	if len(req.Rooms) == 0 {
		return http.StatusBadRequest, apiError(`"rooms" lists no room to join or leave`)
	}
	for _, room := range req.Rooms {
		if !validRoom(room) {
			return http.StatusBadRequest, apiError("invalid room %q", room)
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	_, socks, status, body := s.selected(ctx, &req.selection)
	if status != 0 {
		return status, body
	}
	for _, rs := range socks {
		var st *sockState
		if l := rs.Local(); l != nil {
			st = liveState(l)
		}
		for _, room := range req.Rooms {
			if room == rs.ID {
				continue // a socket stays in its own room
			}
			var err error
			switch {
			case st != nil && join:
				st.join(room)
			case st != nil:
				st.leaveRoom(room)
			case join:
				err = rs.Join(room)
			default:
				err = rs.Leave(room)
			}
			if err != nil {
				return http.StatusInternalServerError, apiError("failed to update socket %s: %v", rs.ID, err)
			}
		}
	}
	return http.StatusOK, map[string]int{"sockets": len(socks)}
}

func (s *Server) apiDisconnect(w http.ResponseWriter, r *http.Request) (int, any) {
	var req struct {
		selection
		Close bool `json:"close"`
	}
	if status, body := decodeBody(w, r, &req); status != 0 {
		return status, body
	}
	if status, body := s.tooManyRooms(r, req.lists()...); status != 0 {
		return status, body
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	_, socks, status, body := s.selected(ctx, &req.selection)
	if status != 0 {
		return status, body
	}
	for _, rs := range socks {
		if err := rs.Disconnect(req.Close); err != nil {
			return http.StatusInternalServerError, apiError("failed to disconnect socket %s: %v", rs.ID, err)
		}
	}
	return http.StatusOK, map[string]int{"disconnected": len(socks)}
}

type namespaceStats struct {
	Name    string `json:"name"`
	Sockets int    `json:"sockets"`
	Rooms   int    `json:"rooms"`
}

func (s *Server) apiStats(w http.ResponseWriter, r *http.Request) (int, any) {
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	byTransport := s.connectionsByTransport()
	total := 0
	for _, n := range byTransport {
		total += n
	}
	names := s.io.Namespaces()
	slices.Sort(names)
	nsps := make([]namespaceStats, 0, len(names))
	for _, name := range names {
		nsp := s.io.Of(name)
		rooms, err := s.rooms(ctx, nsp)
		if err != nil {
			return http.StatusInternalServerError, apiError("failed to list rooms: %v", err)
		}
		nsps = append(nsps, namespaceStats{Name: name, Sockets: len(nsp.Sockets()), Rooms: len(rooms)})
	}
	out := map[string]any{
		"uptime_seconds": int64(time.Since(s.started).Seconds()),
		"ready":          s.Ready(),
		"connections":    map[string]any{"total": total, "by_transport": byTransport},
		"namespaces":     nsps,
	}
	if s.cluster != nil {
		nodes, _ := s.io.Sockets().Adapter().ServerCount(ctx)
		out["cluster"] = map[string]any{"adapter": s.cluster.adapter, "node": s.cluster.id, "nodes": nodes}
	}
	return http.StatusOK, out
}
