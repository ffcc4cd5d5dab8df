package procsettest

import (
	"fmt"
	"testing"
)

func TestWatchFiresOnce(t *testing.T) {
	fired := 0
	w := &Watch{Match: "run 1/2", OnMatch: func() { fired++ }}
	// The match may arrive split across writes.
	for _, s := range []string{"starting\nrun 1", "/2 done\n", "run 1/2 again\n"} {
		fmt.Fprint(w, s)
	}
	if fired != 1 {
		t.Errorf("OnMatch called %d times, want 1", fired)
	}
	if got, want := w.String(), "starting\nrun 1/2 done\nrun 1/2 again\n"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
