package socketio

import "slices"

// smallMapSlice is the most entries a smallMap keeps in its slice.
const smallMapSlice = 8

// smallMap is a map from strings for the few entries a socket or a
// connection has (its namespaces, its event handlers): up to smallMapSlice
// entries in a slice of exactly their number, then a Go map. A Go map
// costs an idle socket about 200 bytes from its first entry on.
// The zero value is empty and ready to use.
type smallMap[V any] struct {
	list []smallEntry[V]
	m    map[string]V // once there were more than smallMapSlice entries; then list is nil
}

type smallEntry[V any] struct {
	key string
	v   V
}

// get returns the value of key and whether key is there.
func (sm *smallMap[V]) get(key string) (V, bool) {
	if sm.m != nil {
		v, ok := sm.m[key]
		return v, ok
	}
	for i := range sm.list {
		if sm.list[i].key == key {
			return sm.list[i].v, true
		}
	}
	var zero V
	return zero, false
}

// set sets the value of key.
func (sm *smallMap[V]) set(key string, v V) {
	if sm.m != nil {
		sm.m[key] = v
		return
	}
	for i := range sm.list {
		if sm.list[i].key == key {
			sm.list[i].v = v
			return
		}
	}
	if len(sm.list) < smallMapSlice {
		// Grown by one: the slice is exactly as long as needed.
		list := make([]smallEntry[V], len(sm.list)+1)
		copy(list, sm.list)
		list[len(sm.list)] = smallEntry[V]{key, v}
		sm.list = list
		return
	}
	sm.m = make(map[string]V, len(sm.list)+1)
	for _, e := range sm.list {
		sm.m[e.key] = e.v
	}
	sm.m[key] = v
	sm.list = nil
}

// del removes key.
func (sm *smallMap[V]) del(key string) {
	if sm.m != nil {
		delete(sm.m, key)
		return
	}
	sm.list = slices.DeleteFunc(sm.list, func(e smallEntry[V]) bool { return e.key == key })
	if len(sm.list) == 0 {
		sm.list = nil
	}
}

// each calls fn for each entry, in no particular order. fn must not change
// the map.
func (sm *smallMap[V]) each(fn func(key string, v V)) {
	for _, e := range sm.list {
		fn(e.key, e.v)
	}
	for k, v := range sm.m {
		fn(k, v)
	}
}
