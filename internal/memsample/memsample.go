// Package memsample reads what a process retains, for tests and
// benchmarks that show a cost per item stays constant (issue 7: O(1) per
// pending approval, per idle subscriber, per configured server): the live
// heap after full collections, the goroutine stacks in use, the number of
// goroutines.
package memsample

import "runtime"

// Sample is the process's retained memory at one moment.
type Sample struct {
	Heap, Stacks uint64 // bytes
	Goroutines   int
}

// Take collects garbage and samples. Two cycles: the first may leave
// objects that finalizers released for the second.
func Take() Sample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Sample{Heap: ms.HeapAlloc, Stacks: ms.StackInuse, Goroutines: runtime.NumGoroutine()}
}

// Over is how much s holds over base, in bytes (negative if less).
func (s Sample) Over(base Sample) (heap, stacks int64) {
	return int64(s.Heap) - int64(base.Heap), int64(s.Stacks) - int64(base.Stacks)
}

// PerItem is a growth spread over the items that caused it.
type PerItem struct{ Heap, Stacks, Goroutines float64 }

// Per is how much s holds over base for each of n items.
func (s Sample) Per(base Sample, n int) PerItem {
	heap, stacks := s.Over(base)
	return PerItem{
		Heap:       float64(heap) / float64(n),
		Stacks:     float64(stacks) / float64(n),
		Goroutines: float64(s.Goroutines-base.Goroutines) / float64(n),
	}
}
