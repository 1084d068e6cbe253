package socketio

import (
	"fmt"
	"runtime"
	"testing"
	"unsafe"
)

// TestReceiversSort checks that a long list of receivers is put in the
// order of the sockets' addresses, keeping every socket once, and that a
// short one is left as it is; with the sockets close together (three
// passes of the radix sort, which end in its second buffer) and spread
// over more than 16 MiB (four, which end in the list), and that the
// second buffer keeps no socket afterwards.
func TestReceiversSort(t *testing.T) {
	var keep []*Socket
	for _, tc := range []struct {
		n      int
		spread bool
	}{{sortMin - 1, false}, {sortMin, false}, {5000, false}, {sortMin, true}, {600, true}} {
		n := tc.n
		room := map[string]*Socket{}
		for i := range n {
			s := &Socket{id: fmt.Sprint(i)}
			room[s.id] = s
			if tc.spread {
				// The next socket lies beyond 64 KiB of others of its size
				// class: over 16 MiB between the first and the last.
				for range (64 << 10) / int(unsafe.Sizeof(Socket{})) {
					keep = append(keep, &Socket{})
				}
			}
		}
		var rs receivers
		for _, s := range room { // the order of a room's map
			rs.socks = append(rs.socks, s)
		}
		before := append([]*Socket(nil), rs.socks...)
		rs.sort()
		if len(rs.socks) != n {
			t.Fatalf("%d receivers: %d after sort", n, len(rs.socks))
		}
		seen := map[*Socket]bool{}
		for i, s := range rs.socks {
			if seen[s] || room[s.id] != s {
				t.Fatalf("%d receivers: socket %s twice or unknown after sort", n, s.id)
			}
			seen[s] = true
			if n < sortMin && s != before[i] {
				t.Fatalf("%d receivers (fewer than %d): the order changed", n, sortMin)
			}
			if n >= sortMin && i > 0 && uintptr(unsafe.Pointer(rs.socks[i-1])) > uintptr(unsafe.Pointer(s)) {
				t.Fatalf("%d receivers: not in address order at %d", n, i)
			}
		}
		for _, s := range rs.spare[:cap(rs.spare)] {
			if s != nil {
				t.Fatalf("%d receivers: the sort's second buffer keeps socket %s", n, s.id)
			}
		}
	}
	runtime.KeepAlive(keep)
}

// BenchmarkReceiversSort measures what listing a broadcast's 5,000
// receivers from a room's map costs without and with sorting them; the
// difference ÷ 5,000 is the sort's cost per delivery.
func BenchmarkReceiversSort(b *testing.B) {
	const n = 5000
	room := map[string]*Socket{}
	for i := range n {
		s := &Socket{id: fmt.Sprint(i)}
		room[s.id] = s
	}
	for _, sorted := range []bool{false, true} {
		b.Run(fmt.Sprintf("sort=%v", sorted), func(b *testing.B) {
			var rs receivers
			for b.Loop() {
				for _, s := range room {
					rs.socks = append(rs.socks, s)
				}
				if sorted {
					rs.sort()
				}
				rs.socks = rs.socks[:0]
			}
		})
	}
}
