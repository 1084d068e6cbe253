package socketio

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/tether-rt/tether/internal/alloctest"
)

// uniqueRef is the definition of appendUnique: each element of add that is
// in neither dst nor earlier in add, in order.
func uniqueRef(dst, add []string) []string {
	out := slices.Clone(dst)
	for _, r := range add {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// TestOperatorRoomsUnique checks To and Except against the definition, on
// both sides of the size where appendUnique switches to a set.
func TestOperatorRoomsUnique(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	list := func(n, distinct int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "r" + strconv.Itoa(rng.IntN(distinct))
		}
		return out
	}
	for _, n := range []int{0, 1, 2, 3, uniqueScan - 1, uniqueScan, uniqueScan + 1, 40, 1000} {
		for _, distinct := range []int{1, 3, n/2 + 1, 2*n + 1} {
			first, second := list(n, distinct), list(n/2, distinct)
			op := BroadcastOperator{}.To(first...).To(second...).Except(second...).Except(first...)
			name := fmt.Sprintf("%d rooms of %d names", n, distinct)
			if want := uniqueRef(uniqueRef(nil, first), second); !slices.Equal(op.rooms, want) {
				t.Errorf("%s: To = %q, want %q", name, op.rooms, want)
			}
			if want := uniqueRef(uniqueRef(nil, second), first); !slices.Equal(op.except, want) {
				t.Errorf("%s: Except = %q, want %q", name, op.except, want)
			}
		}
	}

	// Operators are values: deriving two from one changes neither it nor
	// the other, on both sides of the switch.
	for _, n := range []int{2, 100} {
		base := BroadcastOperator{}.To(list(n, 2*n)...)
		kept := slices.Clone(base.rooms)
		a := base.To("a", "a", kept[0])
		b := base.To("b")
		if !slices.Equal(base.rooms, kept) || !slices.Equal(a.rooms, append(slices.Clone(kept), "a")) ||
			!slices.Equal(b.rooms, append(slices.Clone(kept), "b")) {
			t.Errorf("%d rooms: base %q, a %q, b %q", n, base.rooms, a.rooms, b.rooms)
		}
	}
}

// The operator of a broadcast to a few rooms allocates its two lists, once
// each.
func TestOperatorFewRoomsAllocations(t *testing.T) {
	var op BroadcastOperator
	allocs := alloctest.PerRun(100, func() {
		op = BroadcastOperator{}.To("a", "b", "a", "c").Except("d")
	})
	if !slices.Equal(op.rooms, []string{"a", "b", "c"}) || !slices.Equal(op.except, []string{"d"}) {
		t.Fatalf("rooms %q, except %q", op.rooms, op.except)
	}
	if allocs > 2 {
		t.Fatalf("To(4 rooms).Except(1 room) allocates %v times, want at most 2 (the two lists)", allocs)
	}
}
