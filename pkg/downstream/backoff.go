package downstream

import (
	"math/rand/v2"
	"time"

	"github.com/mcphub/mcphub/pkg/config"
)

// backoff is an exponential delay with full jitter in [d/2, d]: servers that
// failed together do not all come back in the same instant.
type backoff struct {
	cfg     config.Backoff
	attempt int
}

func (b *backoff) next() time.Duration {
	initial, limit := b.cfg.Initial, b.cfg.Max
	if initial <= 0 {
		initial = config.DefaultBackoffInitial
	}
	if limit < initial {
		limit = initial
	}
	d := initial
	for i := 0; i < b.attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	b.attempt++
	half := d / 2
	return half + rand.N(d-half+1)
}

func (b *backoff) reset() { b.attempt = 0 }
