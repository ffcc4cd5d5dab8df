//go:build race

package openai

// raceEnabled: the race detector's sync.Pool drops items at random, so
// code that uses one (json.Valid's scanners) allocates now and then.
// A test that skips on it is named Test...Allocations: make test-allocs
// runs those again without -race.
const raceEnabled = true
