//go:build race

package api_test

// raceEnabled: the race detector's sync.Pool drops items at random, so
// allocation counts wander under it.
const raceEnabled = true
