package downstream

import (
	"slices"
	"testing"
)

func TestMonotonicDropsStaleProgress(t *testing.T) {
	var got []float64
	fn := newProgressTracker(func(p Progress) { got = append(got, p.Progress) }).deliver
	for _, v := range []float64{0, 1, 3, 2, 3, 4, 4, 10} {
		fn(Progress{Progress: v})
	}
	if want := []float64{0, 1, 3, 4, 10}; !slices.Equal(got, want) {
		t.Errorf("forwarded %v, want %v", got, want)
	}
}
