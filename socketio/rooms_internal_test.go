package socketio

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLocalRoomsModel runs random joins, leaves and unregistrations on
// LocalSockets and checks after each one that its rooms (the memberSet of
// each room, the roomList of each socket, the room hook) say what a plain
// model of maps says: the small forms and their growth into maps and
// indexes change nothing that can be seen.
func TestLocalRoomsModel(t *testing.T) {
	nsp := &Namespace{name: "/"}
	l := newLocalSockets(nsp)
	var hooked []string // rooms that exist according to the room hook
	l.OnRoomChange(func(room string, exists bool) {
		if exists {
			if slices.Contains(hooked, room) {
				t.Fatalf("room hook: %q created twice", room)
			}
			hooked = append(hooked, room)
		} else {
			i := slices.Index(hooked, room)
			if i < 0 {
				t.Fatalf("room hook: %q removed but not there", room)
			}
			hooked = slices.Delete(hooked, i, i+1)
		}
	})
	sockets := make([]*Socket, 6)
	for i := range sockets {
		sockets[i] = &Socket{id: fmt.Sprintf("s%d", i), nsp: nsp}
	}
	// 40 rooms: a socket's list goes past roomListIndex, rooms past one member.
	rooms := make([]string, 40)
	for i := range rooms {
		rooms[i] = fmt.Sprintf("r%d", i)
	}
	model := map[string]map[string]bool{} // socket id -> its rooms; registered sockets only
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 20000 {
		s := sockets[rng.IntN(len(sockets))]
		switch op := rng.IntN(20); {
		case op == 0:
			l.unregister(s)
			delete(model, s.id)
		case op == 1 || model[s.id] == nil:
			if model[s.id] == nil {
				l.register(s)
				model[s.id] = map[string]bool{}
			}
		case op < 12:
			rs := []string{rooms[rng.IntN(len(rooms))], rooms[rng.IntN(len(rooms))]}
			l.join(s, rs)
			for _, r := range rs {
				model[s.id][r] = true
			}
		default:
			r := rooms[rng.IntN(len(rooms))]
			l.leave(s, []string{r})
			delete(model[s.id], r)
		}
		check(t, step, l, model, hooked)
	}
}

func check(t *testing.T, step int, l *LocalSockets, model map[string]map[string]bool, hooked []string) {
	t.Helper()
	members := map[string][]string{} // room -> socket ids
	for id, rs := range model {
		want := slices.Sorted(maps.Keys(rs))
		if got := l.socketRooms(id); !slices.Equal(got, want) {
			t.Fatalf("step %d: rooms of %s = %v, want %v", step, id, got, want)
		}
		for r := range rs {
			members[r] = append(members[r], id)
		}
	}
	wantRooms := slices.Sorted(maps.Keys(members))
	if got := l.Rooms(); !slices.Equal(got, wantRooms) {
		t.Fatalf("step %d: Rooms = %v, want %v", step, got, wantRooms)
	}
	if got := slices.Sorted(slices.Values(hooked)); !slices.Equal(got, wantRooms) {
		t.Fatalf("step %d: rooms per the hook = %v, want %v", step, got, wantRooms)
	}
	for r, ids := range members {
		slices.Sort(ids)
		if got := l.IDs(&BroadcastOptions{Rooms: []string{r}}); !slices.Equal(got, ids) {
			t.Fatalf("step %d: IDs in %s = %v, want %v", step, r, got, ids)
		}
		if got := l.Count(&BroadcastOptions{Rooms: []string{r}}); got != len(ids) {
			t.Fatalf("step %d: Count in %s = %d, want %d", step, r, got, len(ids))
		}
		for id := range model {
			if got, want := l.rooms[r].has(id), slices.Contains(ids, id); got != want {
				t.Fatalf("step %d: %s has %s = %v, want %v", step, r, id, got, want)
			}
		}
	}
	// Broadcast selection with two rooms and an exception.
	if len(wantRooms) >= 3 {
		a, b, x := wantRooms[0], wantRooms[len(wantRooms)/2], wantRooms[len(wantRooms)-1]
		var want []string
		for id, rs := range model {
			if (rs[a] || rs[b]) && !rs[x] {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		if got := l.IDs(&BroadcastOptions{Rooms: []string{a, b}, Except: []string{x}}); !slices.Equal(got, want) {
			t.Fatalf("step %d: IDs in %s or %s but not %s = %v, want %v", step, a, b, x, got, want)
		}
		if got := l.Count(&BroadcastOptions{Rooms: []string{a, b}, Except: []string{x}}); got != len(want) {
			t.Fatalf("step %d: Count in %s or %s but not %s = %d, want %d", step, a, b, x, got, len(want))
		}
		// Two excepted rooms, which may share sockets.
		want = want[:0]
		for id, rs := range model {
			if rs[b] && !rs[a] && !rs[x] {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		if got := l.IDs(&BroadcastOptions{Rooms: []string{b}, Except: []string{a, x}}); !slices.Equal(got, want) {
			t.Fatalf("step %d: IDs in %s but not %s or %s = %v, want %v", step, b, a, x, got, want)
		}
		// Count of one room with exceptions, which it works out without
		// walking the room (an excepted room twice counts once).
		if got := l.Count(&BroadcastOptions{Rooms: []string{b}, Except: []string{a, x, a}}); got != len(want) {
			t.Fatalf("step %d: Count in %s but not %s or %s = %d, want %d", step, b, a, x, got, len(want))
		}
		want = want[:0]
		for id, rs := range model {
			if rs[a] && !rs[x] {
				want = append(want, id)
			}
		}
		if got := l.Count(&BroadcastOptions{Rooms: []string{a}, Except: []string{x}}); got != len(want) {
			t.Fatalf("step %d: Count in %s but not %s = %d, want %d", step, a, x, got, len(want))
		}
	}
}

// TestCountOneRoom checks Count of one room with exceptions as a publish
// asks it (all but the sender, by its own room), with excepted rooms that
// share sockets, and with more excepted sockets than the room has.
func TestCountOneRoom(t *testing.T) {
	nsp := &Namespace{name: "/"}
	l := newLocalSockets(nsp)
	const n = 100
	for i := range n {
		s := &Socket{id: fmt.Sprintf("s%d", i), nsp: nsp}
		l.register(s)
		rooms := []string{s.id, "all"}
		if i%2 == 0 {
			rooms = append(rooms, "even") // 50 sockets
		}
		if i < 3 {
			rooms = append(rooms, "few")
		}
		l.join(s, rooms)
	}
	for _, c := range []struct {
		rooms, except []string
		want          int
	}{
		{[]string{"all"}, nil, n},
		{[]string{"all"}, []string{"s7"}, n - 1},
		{[]string{"all"}, []string{"s7", "s7", "nowhere"}, n - 1},
		{[]string{"all"}, []string{"few", "s1"}, n - 3},
		{[]string{"all"}, []string{"even"}, n / 2},
		{[]string{"all"}, []string{"even", "few"}, n/2 - 1},
		{[]string{"few"}, []string{"even"}, 1},
		{[]string{"s5"}, []string{"s5"}, 0},
		{[]string{"nowhere"}, []string{"s5"}, 0},
	} {
		opts := &BroadcastOptions{Rooms: c.rooms, Except: c.except}
		if got := l.Count(opts); got != c.want {
			t.Errorf("Count(%v except %v) = %d, want %d", c.rooms, c.except, got, c.want)
		}
		if got := len(l.IDs(opts)); got != c.want {
			t.Errorf("len(IDs(%v except %v)) = %d, want %d", c.rooms, c.except, got, c.want)
		}
	}
}

// TestNspTableModel checks a smallMap (a connection's table of namespaces)
// against a map through random sets and deletions, across its growth from a slice
// into a map.
func TestNspTableModel(t *testing.T) {
	var tab nspTable
	model := map[string]*Socket{}
	socks := []*Socket{nil, {id: "a"}, {id: "b"}}
	rng := rand.New(rand.NewPCG(3, 4))
	for step := range 5000 {
		name := fmt.Sprintf("/n%d", rng.IntN(12))
		if rng.IntN(3) == 0 {
			tab.del(name)
			delete(model, name)
		} else {
			s := socks[rng.IntN(len(socks))]
			tab.set(name, s)
			model[name] = s
		}
		var want []*Socket
		for i := range 12 {
			n := fmt.Sprintf("/n%d", i)
			ws, wok := model[n]
			gs, gok := tab.get(n)
			if gs != ws || gok != wok {
				t.Fatalf("step %d: get(%s) = %v, %v; want %v, %v", step, n, gs, gok, ws, wok)
			}
			if ws != nil {
				want = append(want, ws)
			}
		}
		var got []*Socket
		tab.each(func(_ string, s *Socket) {
			if s != nil {
				got = append(got, s)
			}
		})
		if len(got) != len(want) {
			t.Fatalf("step %d: %d sockets, want %d", step, len(got), len(want))
		}
	}
	if tab.m == nil {
		t.Error("the table never grew into a map")
	}
}
