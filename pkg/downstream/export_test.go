package downstream

import "time"

// SetListenRetry shortens the GET stream's retry for a test; restore puts
// it back.
func SetListenRetry(d time.Duration) (restore func()) {
	old := listenRetry.Swap(int64(d))
	return func() { listenRetry.Store(old) }
}
