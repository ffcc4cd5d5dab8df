//go:build race

package api_test

// raceEnabled: the race detector's sync.Pool drops items at random, so
// allocation counts wander under it.
// A test that skips on it is named Test...Allocations: make test-allocs
// runs those again without -race.
const raceEnabled = true
