//go:build race

package openai

// raceEnabled: the race detector's sync.Pool drops items at random, so
// code that uses one (json.Valid's scanners) allocates now and then.
const raceEnabled = true
