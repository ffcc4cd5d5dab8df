package hub

import (
	"slices"
	"sync"
	"time"

	"github.com/mcphub/mcphub/pkg/approval"
)

// claims keeps the results of approved calls for the callers that asked
// for them but could not wait: an MCP client gets a tool error naming the
// approval request, a person approves it over REST (which runs the call),
// and the client's next identical call (same tool, same argument digest)
// returns that result instead of asking again. Only requests made with
// CallRequest.Claim are kept, each until claimed or for the retention
// period, and at most maxPending of them.
type claims struct {
	mu       sync.Mutex
	expected map[string]time.Time // request id → created, for requests whose result is kept
	ready    map[claimKey][]claimed
	count    int
}

type claimKey struct{ server, tool, digest string }

type claimed struct {
	id  string
	res *CallResult
	at  time.Time
}

func newClaims() *claims {
	return &claims{expected: map[string]time.Time{}, ready: map[claimKey][]claimed{}}
}

// expect marks r's result as one to keep once the call runs.
func (c *claims) expect(r approval.Request) {
	c.mu.Lock()
	c.expected[r.ID] = r.CreatedAt
	c.mu.Unlock()
}

// deliver keeps the result of an approved call if its caller expects it.
func (c *claims) deliver(r approval.Request, res *CallResult, limit int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.expected[r.ID]; !ok {
		return
	}
	delete(c.expected, r.ID)
	k := claimKey{r.Server, r.Tool, r.Digest}
	c.ready[k] = append(c.ready[k], claimed{id: r.ID, res: res, at: time.Now()})
	c.count++
	for c.count > limit {
		c.dropOldest()
	}
}

// take returns (and forgets) the oldest kept result of this exact call.
func (c *claims) take(server, tool, digest string) (*CallResult, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := claimKey{server, tool, digest}
	list := c.ready[k]
	if len(list) == 0 {
		return nil, "", false
	}
	first := list[0]
	c.dropFirst(k, list)
	return first.res, first.id, true
}

// dropFirst forgets the oldest entry of list, the results kept for k.
// slices.Delete clears the vacated tail: the array outlives the slice, and
// must not keep a forgotten result alive.
func (c *claims) dropFirst(k claimKey, list []claimed) {
	if len(list) <= 1 {
		delete(c.ready, k)
	} else {
		c.ready[k] = slices.Delete(list, 0, 1)
	}
	c.count--
}

// sweep forgets results and expectations older than maxAge.
func (c *claims) sweep(now time.Time, maxAge time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, at := range c.expected {
		if now.Sub(at) > maxAge {
			delete(c.expected, id)
		}
	}
	for k, list := range c.ready {
		n := len(list)
		kept := slices.DeleteFunc(list, func(e claimed) bool { return now.Sub(e.at) > maxAge }) // clears the tail
		c.count -= n - len(kept)
		if len(kept) == 0 {
			delete(c.ready, k)
		} else {
			c.ready[k] = kept
		}
	}
}

func (c *claims) dropOldest() {
	var oldest claimKey
	var at time.Time
	for k, list := range c.ready {
		if at.IsZero() || list[0].at.Before(at) {
			oldest, at = k, list[0].at
		}
	}
	c.dropFirst(oldest, c.ready[oldest])
}
