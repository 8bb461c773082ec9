package server

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/quagmt/udecimal"
)

// referenceThinEquity is thinEquity as it was before EquityThinner (a walk
// over the whole slice), kept to prove the streaming thinner keeps the same
// points.
func referenceThinEquity(pts []EquityPoint, from, to time.Time, max int) []EquityPoint {
	if len(pts) <= max || max < 2 || !from.Before(to) {
		return pts
	}
	slice := to.Sub(from) / time.Duration(max-1)
	if slice <= 0 {
		slice = 1
	}
	out := make([]EquityPoint, 0, max)
	out = append(out, pts[0])
	slot := func(t time.Time) int64 { return int64(t.Sub(from) / slice) }
	for i := 1; i < len(pts); i++ {
		last := i == len(pts)-1
		if last || slot(pts[i+1].At) != slot(pts[i].At) || pts[i+1].Source != pts[i].Source {
			out = append(out, pts[i])
		}
	}
	if len(out) > max { // sources interleaving: keep the newest
		out = append(out[:1], out[len(out)-max+1:]...)
	}
	return out
}

// TestEquityThinnerMatchesReference: random series (one to three sources
// interleaving, ties, ranges wider and narrower than the points, small and
// large caps) keep exactly the points the slice walk kept, streamed one at a
// time.
func TestEquityThinnerMatchesReference(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(18, 2))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sources := []string{"history", "live", "backfill"}
	for iter := range 3000 {
		from := base.Add(time.Duration(rng.IntN(120)) * time.Minute)
		to := from.Add(time.Duration(rng.IntN(3000)-20) * time.Minute)
		max := []int{0, 1, 2, 3, 7, 50, 2000}[rng.IntN(7)]
		n := rng.IntN(600)
		nsrc := 1 + rng.IntN(3)
		at := from
		var pts []EquityPoint
		for i := range n {
			if rng.IntN(6) > 0 {
				at = at.Add(time.Duration(rng.IntN(int(10 * time.Minute))))
			}
			pts = append(pts, EquityPoint{At: at, Equity: udecimal.MustFromInt64(int64(i), 2), Source: sources[rng.IntN(nsrc)]})
		}
		want := referenceThinEquity(append([]EquityPoint(nil), pts...), from, to, max)
		th := NewEquityThinner(from, to, max)
		for _, p := range pts {
			th.Add(p)
		}
		got := th.Points()
		if len(got) == 0 && len(want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("iteration %d (%d points, max %d, %d sources): kept %d points, reference %d", iter, n, max, nsrc, len(got), len(want))
		}
		if len(pts) > max && max >= 2 && from.Before(to) && !reflect.DeepEqual(thinEquity(pts, from, to, max), want) {
			t.Fatalf("iteration %d: thinEquity differs from the reference", iter)
		}
	}
}
