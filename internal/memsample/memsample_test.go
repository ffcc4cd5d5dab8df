package memsample

import "testing"

var keep [][]byte

func TestTakeSeesRetainedMemory(t *testing.T) {
	base := Take()
	for range 64 {
		keep = append(keep, make([]byte, 64<<10))
	}
	if heap, _ := Take().Over(base); heap < 3<<20 {
		t.Errorf("4 MB kept, the heap grew by %d bytes", heap)
	}
	keep = nil
	if heap, _ := Take().Over(base); heap > 1<<20 {
		t.Errorf("4 MB released, the heap still holds %d bytes more", heap)
	}
}
