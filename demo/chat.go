package demo

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tether-rt/tether/socketio"
)

// maxMessageLen is the longest chat message, in runes.
const maxMessageLen = 1000

// chatRoomPrefix prefixes the Socket.IO rooms of chat rooms, so they never
// mix with the sockets' own rooms (their ids).
const chatRoomPrefix = "room:"

// chatMessage is a message of a chat room ("message" event, and the history
// a client gets when it joins).
type chatMessage struct {
	Room      string `json:"room"`
	ID        int64  `json:"id"` // increases by one per message in the room
	From      string `json:"from"`
	Text      string `json:"text"`
	Time      int64  `json:"t"`             // server time, Unix milliseconds
	CID       string `json:"cid,omitempty"` // the sender's id of the message
	Delivered bool   `json:"delivered"`     // another client reported receiving it

	sender string // socket id of the sender
}

// chatRoom is a room and its history.
type chatRoom struct {
	name    string
	seq     int64
	history []*chatMessage // the last Options.ChatHistory, oldest first
}

// roomInfo is an entry of the room list ("rooms" event).
type roomInfo struct {
	Name    string `json:"name"`
	Members int    `json:"members"`
}

// chat is the server side of the chat demo.
type chat struct {
	ns     *socketio.Namespace
	opts   Options
	update *coalescer

	mu         sync.Mutex
	rooms      map[string]*chatRoom
	order      []string        // room names, in creation order
	dirty      map[string]bool // rooms whose presence list changed
	roomsDirty bool            // the room list (member counts) changed
}

func newChat(ns *socketio.Namespace, opts Options) *chat {
	c := &chat{ns: ns, opts: opts, rooms: map[string]*chatRoom{}, dirty: map[string]bool{}}
	for _, name := range opts.ChatRooms {
		if name, err := cleanRoom(name); err == nil && c.rooms[name] == nil {
			c.rooms[name] = &chatRoom{name: name}
			c.order = append(c.order, name)
		}
	}
	c.update = newCoalescer(50*time.Millisecond, c.broadcast)
	ns.Use(func(s *socketio.Socket) error {
		var auth struct {
			Name string `json:"name"`
		}
		if a := s.Handshake().Auth; a != nil {
			_ = json.Unmarshal(a, &auth)
		}
		name, err := cleanName(auth.Name)
		if err != nil {
			return socketio.NewConnectError(err.Error(), map[string]string{"field": "name"})
		}
		s.Data().Set("name", name)
		return nil
	})
	ns.OnConnection(c.onConnection)
	return c
}

func (c *chat) stop() { c.update.stop() }

// cleanRoom normalizes a room name: 1 to 24 of a-z, 0-9, '-' and '_'.
func cleanRoom(name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || len(name) > 24 {
		return "", errors.New("room names have 1 to 24 characters")
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_' {
			return "", errors.New("room names may only have letters, digits, '-' and '_'")
		}
	}
	return name, nil
}

// markDirty notes that the members of rooms changed.
func (c *chat) markDirty(rooms ...string) {
	c.mu.Lock()
	for _, r := range rooms {
		if name, ok := strings.CutPrefix(r, chatRoomPrefix); ok {
			c.dirty[name] = true
		}
	}
	c.roomsDirty = true
	c.mu.Unlock()
	c.update.kick()
}

// broadcast sends the presence list of the rooms whose members changed, and
// the room list.
func (c *chat) broadcast() {
	c.mu.Lock()
	dirty := c.dirty
	c.dirty = map[string]bool{}
	roomsDirty := c.roomsDirty
	c.roomsDirty = false
	c.mu.Unlock()
	for name := range dirty {
		_ = c.ns.To(chatRoomPrefix+name).Emit("presence", map[string]any{"room": name, "members": c.members(name)})
	}
	if roomsDirty {
		_ = c.ns.Emit("rooms", c.roomList())
	}
}

// members returns the names of the members of room, sorted, each once.
func (c *chat) members(room string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	socks, _ := c.ns.In(chatRoomPrefix + room).FetchSockets(ctx)
	names := []string{}
	for _, s := range socks {
		if n, ok := s.Data["name"].(string); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// roomList returns the rooms with their member counts.
func (c *chat) roomList() []roomInfo {
	c.mu.Lock()
	order := slices.Clone(c.order)
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list := make([]roomInfo, 0, len(order))
	for _, name := range order {
		ids, _ := c.ns.In(chatRoomPrefix + name).AllSockets(ctx)
		list = append(list, roomInfo{Name: name, Members: len(ids)})
	}
	return list
}

// room returns the room name, creating it when create is set and there is
// room for it.
func (c *chat) room(name string, create bool) (*chatRoom, error) {
	name, err := cleanRoom(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rooms[name]
	switch {
	case r != nil:
		return r, nil
	case !create:
		return nil, errors.New("no such room")
	case len(c.rooms) >= c.opts.ChatMaxRooms:
		return nil, errors.New("too many rooms")
	}
	r = &chatRoom{name: name}
	c.rooms[name] = r
	c.order = append(c.order, name)
	return r, nil
}

// history returns a copy of the history of r.
func (c *chat) history(r *chatRoom) []chatMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := make([]chatMessage, len(r.history))
	for i, m := range r.history {
		h[i] = *m
	}
	return h
}

// inRoom reports whether s is in the chat room name.
func inRoom(s *socketio.Socket, name string) bool {
	return slices.Contains(s.Rooms(), chatRoomPrefix+name)
}

func socketName(s *socketio.Socket) string {
	v, _ := s.Data().Get("name")
	n, _ := v.(string)
	return n
}

type roomRequest struct {
	Room string `json:"room"`
}

func (c *chat) onConnection(s *socketio.Socket) {
	// A recovered socket is back in its rooms.
	c.markDirty(s.Rooms()...)
	var rooms []string
	s.OnDisconnecting(func(s *socketio.Socket, _ string) { rooms = s.Rooms() })
	s.OnDisconnect(func(*socketio.Socket, string) { c.markDirty(rooms...) })

	// join {room} -> {ok, room, history, members}; creates the room if
	// needed.
	s.On("join", func(s *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
		req, err := socketio.Decode[roomRequest](args, 0)
		var r *chatRoom
		if err == nil {
			r, err = c.room(req.Room, true)
		}
		if err != nil {
			reply(ack, err, nil)
			return
		}
		s.Join(chatRoomPrefix + r.name)
		c.markDirty(chatRoomPrefix + r.name)
		reply(ack, nil, map[string]any{"room": r.name, "history": c.history(r), "members": c.members(r.name)})
	})
	// leave {room} -> {ok}
	s.On("leave", func(s *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
		req, err := socketio.Decode[roomRequest](args, 0)
		if err == nil {
			req.Room, err = cleanRoom(req.Room)
		}
		if err != nil {
			reply(ack, err, nil)
			return
		}
		s.Leave(chatRoomPrefix + req.Room)
		c.markDirty(chatRoomPrefix + req.Room)
		reply(ack, nil, map[string]any{"room": req.Room})
	})
	// message {room, text, cid} -> {ok, id, t}; the message goes to the
	// other members of the room.
	s.On("message", func(s *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
		req, err := socketio.Decode[struct {
			Room string `json:"room"`
			Text string `json:"text"`
			CID  string `json:"cid"`
		}](args, 0)
		var m *chatMessage
		if err == nil {
			m, err = c.post(s, req.Room, req.Text, req.CID)
		}
		if err != nil {
			reply(ack, err, nil)
			return
		}
		reply(ack, nil, map[string]any{"room": m.Room, "id": m.ID, "t": m.Time, "cid": m.CID})
	})
	// received {room, id}: a client got a message; the first client other
	// than the sender makes it delivered, and the sender is told.
	s.On("received", func(s *socketio.Socket, args []json.RawMessage, _ socketio.AckFunc) {
		req, err := socketio.Decode[struct {
			Room string `json:"room"`
			ID   int64  `json:"id"`
		}](args, 0)
		if err != nil {
			return
		}
		c.received(s, req.Room, req.ID)
	})
	// typing {room, typing}: relayed to the other members (volatile).
	s.On("typing", func(s *socketio.Socket, args []json.RawMessage, _ socketio.AckFunc) {
		req, err := socketio.Decode[struct {
			Room   string `json:"room"`
			Typing bool   `json:"typing"`
		}](args, 0)
		if err != nil || !inRoom(s, req.Room) {
			return
		}
		_ = s.To(chatRoomPrefix+req.Room).Volatile().Emit("typing", map[string]any{
			"room": req.Room, "name": socketName(s), "typing": req.Typing,
		})
	})
}

// post adds a message of s to room and sends it to the room's other
// members.
func (c *chat) post(s *socketio.Socket, room, text, cid string) (*chatMessage, error) {
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return nil, errors.New("empty message")
	case !utf8.ValidString(text) || utf8.RuneCountInString(text) > maxMessageLen:
		return nil, errors.New("messages have at most 1000 characters")
	case len(cid) > 64:
		return nil, errors.New("cid too long")
	}
	r, err := c.room(room, false)
	if err != nil {
		return nil, err
	}
	if !inRoom(s, r.name) {
		return nil, errors.New("join the room first")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r.seq++
	m := &chatMessage{Room: r.name, ID: r.seq, From: socketName(s), Text: text, Time: time.Now().UnixMilli(), CID: cid, sender: s.ID()}
	r.history = append(r.history, m)
	if over := len(r.history) - c.opts.ChatHistory; over > 0 {
		r.history = slices.Delete(r.history, 0, over)
	}
	// Under the lock, so the room's members get its messages in id order.
	if err := s.To(chatRoomPrefix+r.name).Emit("message", m); err != nil {
		return nil, err
	}
	return m, nil
}

// received marks the message id of room delivered if s is not its sender,
// and tells the sender the first time.
func (c *chat) received(s *socketio.Socket, room string, id int64) {
	room, err := cleanRoom(room)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rooms[room]
	if r == nil {
		return
	}
	i, found := slices.BinarySearchFunc(r.history, id, func(m *chatMessage, id int64) int {
		return cmp.Compare(m.ID, id)
	})
	if !found {
		return
	}
	m := r.history[i]
	if m.Delivered || m.sender == s.ID() {
		return
	}
	m.Delivered = true
	_ = c.ns.To(m.sender).Emit("delivered", map[string]any{"room": room, "id": id, "cid": m.CID})
}
