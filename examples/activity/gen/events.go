package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Kinds of event.
const (
	kindPageview = iota
	kindSearch
)

// Lateness bounds: an on-time event's event time is at most maxJitter before
// its produce time; a late one's is between minLate and maxLate before it.
// The gap between the two (5 s against 61 min) is what lets a query's
// "more than 1 hour behind" count exactly the events generated late.
const (
	maxJitter = 5 * time.Second
	minLate   = 61 * time.Minute
	maxLate   = 6 * time.Hour
)

// sessionSlots is how many sessions are open at once; each event belongs
// to one of them, picked at random.
const sessionSlots = 1000

const site = "https://shop.example.com"

// searchColumns is the CSV column order of a search record (the
// -searches-format csv default); searches.yaml declares the same order.
var searchColumns = []string{
	"event_time", "search_id", "session_id", "user_id", "country", "device",
	"query", "results", "clicked_position",
}

// weighted is a value picked with probability weight/sum(weights).
type weighted struct {
	value  string
	weight int
}

var countries = []weighted{
	{"US", 30}, {"DE", 12}, {"GB", 10}, {"IN", 10}, {"FR", 8}, {"BR", 8},
	{"JP", 6}, {"CA", 5}, {"NL", 4}, {"ES", 4}, {"AU", 3},
}

var devices = []weighted{{"mobile", 55}, {"desktop", 38}, {"tablet", 7}}

// referrers of a session's landing page; "" is direct traffic (a null
// referrer).
var referrers = []weighted{
	{"", 30}, {"https://www.google.com/", 35}, {"https://www.bing.com/", 5},
	{"https://duckduckgo.com/", 4}, {"https://www.facebook.com/", 8},
	{"https://t.co/", 5}, {"https://news.ycombinator.com/", 3},
	{"https://newsletter.example.com/weekly", 6}, {"https://www.reddit.com/", 4},
}

var categories = []string{
	"shoes", "dresses", "jackets", "electronics", "laptops", "phones",
	"kitchen", "garden", "toys", "books", "sports", "beauty",
}

var blogPosts = []string{
	"how-to-choose-running-shoes", "spring-collection", "laptop-buying-guide",
	"gift-ideas", "care-for-leather", "behind-the-scenes",
}

// queries are search terms, a few with a comma or a quote so the CSV has
// quoted fields.
var queries = []string{
	"running shoes", "red dress", "usb-c charger", "shoes, red", "rain jacket",
	`14" laptop`, "wireless earbuds", "coffee grinder", "yoga mat", "kids toys",
	"garden hose", "phone case", "winter boots", "desk lamp", "backpack",
	"sunglasses", "air fryer", "bluetooth speaker", "notebook, a5", "sale",
	"gift card", "lego", "hiking boots", "face cream", "tennis racket",
	"mechanical keyboard", "monitor 27\"", "cast iron pan", "water bottle", "tent",
}

// session is one visit: a user (or an anonymous visitor) on one device.
type session struct {
	id      string
	userID  int64 // 0: anonymous
	country string
	device  string
	// lastURL is the page the visitor is on ("" before the landing page).
	lastURL string
	// referrer is the landing page's referrer ("" for direct traffic).
	referrer string
	// product is a product page the last search's click leads to (0: none).
	product int
	left    int // events left in the visit
}

// user is a registered user, with a home country and a usual device.
type user struct {
	country, device string
}

// event is one generated record.
type event struct {
	kind      int
	key       []byte    // the session id
	value     []byte    // JSON page view, or CSV (or JSON) search
	produced  time.Time // the Kafka record timestamp: the simulated clock
	eventTime time.Time // when it happened on the client
	late      bool
	country   string
}

// generator makes the stream. It is deterministic: the same seed, start and
// step give the same events, byte for byte, however fast they are sent.
type generator struct {
	r           *rand.Rand
	start       time.Time
	step        time.Duration
	late        float64
	searchesCSV bool

	i        int64
	users    []user
	userZipf *rand.Zipf
	prodZipf *rand.Zipf
	slots    [sessionSlots]*session
	csvBuf   bytes.Buffer
	csvW     *csv.Writer
}

func newGenerator(seed uint64, start time.Time, step time.Duration, late float64, searchesCSV bool) *generator {
	r := rand.New(rand.NewPCG(seed, 0x5eed_ac71_0171))
	g := &generator{r: r, start: start, step: step, late: late, searchesCSV: searchesCSV}
	g.users = make([]user, 20000)
	for i := range g.users {
		g.users[i] = user{country: g.pick(countries), device: g.pick(devices)}
	}
	// A few heavy users and products, a long tail of the rest.
	g.userZipf = rand.NewZipf(r, 1.1, 4, uint64(len(g.users)-1))
	g.prodZipf = rand.NewZipf(r, 1.2, 2, 399)
	g.csvW = csv.NewWriter(&g.csvBuf)
	// Start with visits under way, so searches (which need a page first)
	// are in the mix from the first events on.
	for i := range g.slots {
		s := g.newSession()
		s.lastURL = site + g.path(s)
		s.left = 1 + g.r.IntN(s.left)
		g.slots[i] = s
	}
	return g
}

func (g *generator) pick(ws []weighted) string {
	sum := 0
	for _, w := range ws {
		sum += w.weight
	}
	n := g.r.IntN(sum)
	for _, w := range ws {
		if n < w.weight {
			return w.value
		}
		n -= w.weight
	}
	return ws[len(ws)-1].value
}

func (g *generator) hexID() string { return fmt.Sprintf("%016x", g.r.Uint64()) }

func (g *generator) newSession() *session {
	s := &session{id: "s-" + g.hexID(), referrer: g.pick(referrers)}
	// Visits last 1 to 40 events, about 8 on average.
	s.left = 1 + int(g.r.ExpFloat64()*7)
	if s.left > 40 {
		s.left = 40
	}
	if g.r.Float64() < 0.7 {
		u := int(g.userZipf.Uint64())
		s.userID = 100000 + int64(u)
		s.country, s.device = g.users[u].country, g.users[u].device
		if g.r.Float64() < 0.2 { // the same user on another device
			s.device = g.pick(devices)
		}
	} else {
		s.country, s.device = g.pick(countries), g.pick(devices)
	}
	return s
}

// next returns the next event; its produce time is start + i*step.
func (g *generator) next() event {
	produced := g.start.Add(time.Duration(g.i) * g.step)
	g.i++
	slot := g.r.IntN(sessionSlots)
	s := g.slots[slot]
	if s == nil || s.left == 0 {
		s = g.newSession()
		g.slots[slot] = s
	}
	s.left--

	ev := event{key: []byte(s.id), produced: produced, country: s.country}
	ev.eventTime = produced.Add(-time.Duration(g.r.Int64N(int64(maxJitter))))
	if g.r.Float64() < g.late {
		// A phone that was offline sends what it buffered hours ago.
		ev.late = true
		ev.eventTime = produced.Add(-minLate - time.Duration(g.r.Int64N(int64(maxLate-minLate))))
	}
	ev.eventTime = ev.eventTime.Truncate(time.Millisecond)

	// A visit starts with a page view; then one event in five is a search.
	if s.lastURL != "" && g.r.IntN(5) == 0 {
		ev.kind = kindSearch
		ev.value = g.search(s, ev.eventTime)
	} else {
		ev.kind = kindPageview
		ev.value = g.pageview(s, ev.eventTime)
	}
	return ev
}

type pageview struct {
	EventID    string  `json:"event_id"`
	EventTime  int64   `json:"event_time"` // epoch milliseconds
	SessionID  string  `json:"session_id"`
	UserID     *int64  `json:"user_id"`
	URL        string  `json:"url"`
	Path       string  `json:"path"`
	Referrer   *string `json:"referrer"`
	Country    string  `json:"country"`
	Device     string  `json:"device"`
	DurationMS int32   `json:"duration_ms"`
}

func (g *generator) path(s *session) string {
	if s.product != 0 {
		p := s.product
		s.product = 0
		return fmt.Sprintf("/products/%d", p)
	}
	switch n := g.r.IntN(100); {
	case n < 12:
		return "/"
	case n < 27:
		return "/category/" + categories[g.r.IntN(len(categories))]
	case n < 77:
		return fmt.Sprintf("/products/%d", 1000+g.prodZipf.Uint64())
	case n < 86:
		return "/cart"
	case n < 90:
		return "/checkout"
	case n < 94:
		return "/account"
	case n < 97:
		return "/help"
	default:
		return "/blog/" + blogPosts[g.r.IntN(len(blogPosts))]
	}
}

func (g *generator) pageview(s *session, at time.Time) []byte {
	p := g.path(s)
	pv := pageview{
		EventID:   g.hexID(),
		EventTime: at.UnixMilli(),
		SessionID: s.id,
		URL:       site + p,
		Path:      p,
		Country:   s.country,
		Device:    s.device,
	}
	if s.userID != 0 {
		pv.UserID = &s.userID
	}
	ref := s.lastURL
	if ref == "" {
		ref = s.referrer
	}
	if ref != "" {
		pv.Referrer = &ref
	}
	// Time on page: log-normal around 6 s, at most 30 minutes.
	ms := math.Exp(8.7 + g.r.NormFloat64())
	pv.DurationMS = int32(min(ms, 30*60*1000))
	s.lastURL = pv.URL
	b, err := json.Marshal(pv)
	if err != nil {
		panic(err) // plain strings and numbers always marshal
	}
	return b
}

type search struct {
	EventTime       string `json:"event_time"` // RFC 3339, milliseconds, UTC
	SearchID        string `json:"search_id"`
	SessionID       string `json:"session_id"`
	UserID          *int64 `json:"user_id"`
	Country         string `json:"country"`
	Device          string `json:"device"`
	Query           string `json:"query"`
	Results         int32  `json:"results"`
	ClickedPosition *int32 `json:"clicked_position"`
}

func (g *generator) search(s *session, at time.Time) []byte {
	q := search{
		EventTime: at.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		SearchID:  g.hexID(),
		SessionID: s.id,
		Country:   s.country,
		Device:    s.device,
		Query:     queries[g.r.IntN(len(queries))],
	}
	if s.userID != 0 {
		q.UserID = &s.userID
	}
	if g.r.IntN(100) >= 8 { // 8% find nothing
		q.Results = int32(math.Exp(g.r.Float64() * math.Log(500)))
		if g.r.Float64() < 0.55 {
			pos := min(int32(1+g.r.ExpFloat64()*2), q.Results)
			q.ClickedPosition = &pos
			s.product = 1000 + int(g.prodZipf.Uint64())
		}
	}
	if !g.searchesCSV {
		b, err := json.Marshal(q)
		if err != nil {
			panic(err)
		}
		return b
	}
	// Nulls are empty fields; encoding/csv quotes a field only when it
	// must, so an empty one stays unquoted (a quoted field is never null).
	opt32 := func(p *int32) string {
		if p == nil {
			return ""
		}
		return fmt.Sprint(*p)
	}
	user := ""
	if q.UserID != nil {
		user = fmt.Sprint(*q.UserID)
	}
	g.csvBuf.Reset()
	_ = g.csvW.Write([]string{q.EventTime, q.SearchID, q.SessionID, user, q.Country, q.Device,
		q.Query, fmt.Sprint(q.Results), opt32(q.ClickedPosition)})
	g.csvW.Flush()
	return bytes.TrimSuffix(bytes.Clone(g.csvBuf.Bytes()), []byte("\n"))
}
