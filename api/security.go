package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/hub"
)

// security is the inbound gate: CORS, authentication and rate limits. It
// reads the hub's current configuration on every request, so a reload
// changes tokens, rules, origins and limits without a restart; what is
// derived from a configuration (hashed tokens) is cached per configuration.
type security struct {
	config func() *config.Config

	compiled atomic.Pointer[compiledAuth]
	limiters limiters
}

// compiledAuth is one configuration's tokens, hashed so that comparing a
// presented token takes the same time whatever its length or value.
type compiledAuth struct {
	cfg    *config.Config
	tokens []hashedToken
}

type hashedToken struct {
	name string
	sum  [sha256.Size]byte
}

// authFailures bounds failed authentications per client address.
var authFailures = config.RateLimit{PerSecond: 5, Burst: 20}

func (s *security) auth(cfg *config.Config) *compiledAuth {
	if c := s.compiled.Load(); c != nil && c.cfg == cfg {
		return c
	}
	c := &compiledAuth{cfg: cfg}
	for _, t := range cfg.Auth.Tokens {
		c.tokens = append(c.tokens, hashedToken{name: t.Name, sum: sha256.Sum256([]byte(t.Token))})
	}
	s.compiled.Store(c)
	return c
}

// match returns the name of the token presented, comparing with every
// configured token in constant time.
func (c *compiledAuth) match(presented string) (string, bool) {
	sum := sha256.Sum256([]byte(presented))
	name, found := "", 0
	for _, t := range c.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			name, found = t.name, 1
		}
	}
	return name, found == 1
}

// openPath reports whether a request needs no token: liveness and
// readiness probes (orchestrators send them without credentials) and the
// API documentation.
func openPath(method, path string) bool {
	switch {
	case (path == "/mcp_hub/health" || path == "/readyz") && (method == http.MethodGet || method == http.MethodHead):
		return true
	case path == "/swagger" || path == "/docs" || path == "/openapi.yaml" || strings.HasPrefix(path, "/swagger/"):
		return true
	}
	return false
}

// presentedToken reads "Authorization: Bearer <token>" or "X-API-Key".
func presentedToken(r *http.Request) string {
	if v := r.Header.Get("Authorization"); v != "" {
		scheme, token, ok := strings.Cut(v, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	return r.Header.Get("X-API-Key")
}

// authenticate answers 401 without a valid token and 403 for a token a
// rule does not allow on the path; otherwise it records the caller.
func (s *security) authenticate(c *gin.Context) {
	cfg := s.config()
	if !cfg.Auth.Enabled() || c.Request.Method == http.MethodOptions || openPath(c.Request.Method, c.Request.URL.Path) {
		c.Next()
		return
	}
	presented := presentedToken(c.Request)
	name, ok := s.auth(cfg).match(presented)
	if !ok && !s.limiters.get("authfail:"+clientIP(c.Request), authFailures).Allow() {
		// Guessing tokens is slowed per client address, whatever the
		// configured rate limit (which counts authenticated callers).
		c.Header("Retry-After", "1")
		c.AbortWithStatusJSON(http.StatusTooManyRequests, ErrorResponse{Error: "too many failed authentications from this address"})
		return
	}
	if !ok {
		c.Header("WWW-Authenticate", `Bearer realm="mcphub"`)
		msg := "authentication required: send Authorization: Bearer <token> (or X-API-Key)"
		if presented != "" {
			msg = "invalid token"
		}
		c.AbortWithStatusJSON(http.StatusUnauthorized, ErrorResponse{Error: msg})
		return
	}
	if allowed, restricted := cfg.Auth.Allowed(c.Request.URL.Path); restricted && !slices.Contains(allowed, name) {
		c.AbortWithStatusJSON(http.StatusForbidden, ErrorResponse{Error: "token " + strconv.Quote(name) + " may not use " + c.Request.URL.Path})
		return
	}
	c.Request = c.Request.WithContext(hub.WithCaller(c.Request.Context(), name))
	c.Next()
}

// cors answers preflight requests and marks responses for the configured
// origins; with none configured it does nothing.
func (s *security) cors(c *gin.Context) {
	origin := c.Request.Header.Get("Origin")
	origins := s.config().CORS.Origins
	if origin == "" || len(origins) == 0 {
		c.Next()
		return
	}
	if !slices.Contains(origins, "*") && !slices.Contains(origins, origin) {
		c.Next() // no CORS headers: the browser refuses the answer
		return
	}
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Mcp-Session-Id, Retry-After, WWW-Authenticate, X-Request-ID")
	if c.Request.Method == http.MethodOptions && c.Request.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-API-Key, Last-Event-ID, Mcp-Session-Id, Mcp-Protocol-Version, X-Request-ID")
		h.Set("Access-Control-Max-Age", "600")
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}

// rateLimit applies the per-caller token bucket: per token name with auth,
// per client IP without. Over the limit is 429 with Retry-After.
func (s *security) rateLimit(c *gin.Context) {
	lim := s.config().Limits.Rate
	if lim.PerSecond <= 0 || openPath(c.Request.Method, c.Request.URL.Path) {
		c.Next()
		return
	}
	key := hub.CallerFrom(c.Request.Context())
	if key == "" {
		key = "ip:" + clientIP(c.Request)
	}
	r := s.limiters.get(key, lim).Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
		c.AbortWithStatusJSON(http.StatusTooManyRequests, ErrorResponse{Error: "rate limit exceeded: " +
			strconv.FormatFloat(lim.PerSecond, 'g', -1, 64) + " requests per second (burst " + strconv.Itoa(lim.Burst) + ")"})
		return
	}
	c.Next()
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiters holds one token bucket per caller. Buckets of clients gone
// quiet are dropped so that many client addresses cannot grow it without
// bound.
type limiters struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	conf config.RateLimit
	used time.Time
}

const (
	maxBuckets = 10000
	idleBucket = 10 * time.Minute
)

func (l *limiters) get(key string, conf config.RateLimit) *rate.Limiter {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	if len(l.buckets) >= maxBuckets || now.Sub(l.swept) > idleBucket {
		for k, b := range l.buckets {
			if now.Sub(b.used) > idleBucket {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok || b.conf != conf { // new caller, or the limit was reloaded
		b = &bucket{lim: rate.NewLimiter(rate.Limit(conf.PerSecond), max(conf.Burst, 1)), conf: conf}
		if len(l.buckets) < maxBuckets {
			l.buckets[key] = b
		}
	}
	b.used = now
	return b.lim
}
