package label

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rlhf-project/rlhf/option"
)

//go:embed web
var webFS embed.FS

// ServeOptions tune Serve (`rlhf label serve`).
type ServeOptions struct {
	// Responses are response datasets whose groups are added as items at
	// start (groups already in the database are kept). May be empty when
	// the database already holds items.
	Responses []string
	// DB is the SQLite labelling database; created if missing.
	DB string
	// Addr is the listen address. Default "127.0.0.1:8080" (loopback only:
	// give a non-loopback address deliberately to serve a team).
	Addr string
	// MaxBodyBytes limits every request body, in bytes. Default 256 KiB.
	MaxBodyBytes int64
	// LeaseTTL is how long an item handed to a labeler is kept from
	// others. Default 15 minutes.
	LeaseTTL time.Duration
	// Threshold is the agreement below which the dashboard warns (0-1).
	// Default 0.7.
	Threshold float64
	// OnListen, when set, is called with the bound address once the
	// server listens (tests use it with Addr "127.0.0.1:0").
	OnListen func(addr string) `json:"-"`
}

func (o *ServeOptions) defaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8080"
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 256 << 10
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 15 * time.Minute
	}
	if o.Threshold == 0 {
		o.Threshold = 0.7
	}
}

// Server is the labelling web app: the embedded single-page app and its
// JSON API. Every /api call but login needs "Authorization: Bearer TOKEN".
type Server struct {
	store *Store
	opts  ServeOptions
	mux   *http.ServeMux
	// mu is held from reading the state to writing what follows from it
	// (handing out an item and taking its lease, checking a lease and
	// submitting), so two requests cannot both act on the same state.
	mu sync.Mutex
	// now is the clock of leases: time.Now (tests move a fake one).
	now func() time.Time
}

// NewServer returns the web app over store.
func NewServer(store *Store, opts ServeOptions) *Server {
	opts.defaults()
	s := &Server{store: store, opts: opts, mux: http.NewServeMux(), now: time.Now}
	static, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err)
	}
	s.mux.Handle("GET /", http.FileServerFS(static))
	// Browsers ask for /favicon.ico when a page names no icon (or before
	// reading it); answer with the app's SVG icon rather than 404.
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		http.ServeFileFS(w, r, static, "favicon.svg")
	})
	s.mux.HandleFunc("POST /api/login", s.login)
	s.mux.HandleFunc("GET /api/task", s.auth(false, s.task))
	s.mux.HandleFunc("POST /api/submit", s.auth(false, s.submit))
	s.mux.HandleFunc("POST /api/skip", s.auth(false, s.skip))
	s.mux.HandleFunc("POST /api/undo", s.auth(false, s.undo))
	s.mux.HandleFunc("GET /api/stats", s.auth(true, s.stats))
	s.mux.HandleFunc("POST /api/admin/overlap", s.auth(true, s.setOverlap))
	s.mux.HandleFunc("POST /api/admin/gold", s.auth(true, s.gold))
	return s
}

// ServeHTTP adds the security headers and the body size limit.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		h.Set("Cache-Control", "no-store")
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	s.mux.ServeHTTP(w, r)
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, apiError{Error: fmt.Sprintf(format, args...)})
}

// readJSON decodes the body, one JSON object, into v, refusing unknown
// fields, anything but white space after the object, and oversized bodies.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			err = nil
		} else if !errors.As(err, new(*http.MaxBytesError)) {
			err = errors.New("want one JSON object, found more data after it")
		}
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(w, http.StatusRequestEntityTooLarge, "request body over %d bytes", tooBig.Limit)
			return false
		}
		fail(w, http.StatusBadRequest, "bad JSON body: %v", err)
		return false
	}
	return true
}

type handler func(w http.ResponseWriter, r *http.Request, who *Labeler)

// bearer returns the token of an "Authorization: Bearer TOKEN" header; the
// scheme is case-insensitive (RFC 9110, section 11.1).
func bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// auth checks the bearer token (and the admin role when admin is true).
func (s *Server) auth(admin bool, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, err := s.store.Authenticate(bearer(r))
		if err != nil {
			fail(w, http.StatusUnauthorized, "sign in with your name and token")
			return
		}
		if admin && who.Role != RoleAdmin {
			fail(w, http.StatusForbidden, "this needs the admin token")
			return
		}
		h(w, r, who)
	}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name  string `json:"name"`
		Token string `json:"token"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	who, err := s.store.Authenticate(req.Token)
	if err != nil || who.Name != req.Name {
		fail(w, http.StatusUnauthorized, "unknown name or token")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": who.Name, "role": who.Role})
}

func (s *Server) labelerCount() int {
	ls, err := s.store.Labelers()
	if err != nil {
		return 1
	}
	n := 0
	for _, l := range ls {
		if l.Role == RoleLabeler {
			n++
		}
	}
	return n
}

// leases reads the leases from the database.
func (s *Server) leases() (leases, error) {
	m, err := s.store.Leases()
	return leases{ttl: s.opts.LeaseTTL, now: s.now(), m: m}, err
}

func (s *Server) task(w http.ResponseWriter, r *http.Request, who *Labeler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.store.State()
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	items, err := s.store.Items()
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	overlap, err := s.store.OverlapRate()
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	ls, err := s.leases()
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	t := nextTask(items, st, who, s.labelerCount(), overlap, ls)
	if t.GroupID != "" && who.Role != RoleAdmin {
		if err := s.store.TakeLease(t.GroupID, who.Name, ls.now); err != nil {
			fail(w, http.StatusInternalServerError, "%v", err)
			return
		}
	}
	writeJSON(w, http.StatusOK, t)
}

// holding checks that group was handed to labeler who (an admin needs no
// lease) and returns when it was, and whether it was; an expired lease still
// counts while no one else has been handed the item since. When the item is
// not who's to rank or skip it answers 409 and returns ok false. s.mu is
// held.
func (s *Server) holding(w http.ResponseWriter, group string, who *Labeler) (at time.Time, held, ok bool) {
	ls, err := s.leases()
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return at, false, false
	}
	at, held = ls.m[group][who.Name]
	if who.Role == RoleAdmin || (held && ls.live(group, who.Name)) {
		return at, held, true
	}
	if !held {
		fail(w, http.StatusConflict, "item %s was not handed to you (or you already submitted or skipped it): rank or skip the item that GET /api/task gives you", group)
		return at, false, false
	}
	st, err := s.store.State()
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return at, held, false
	}
	it, err := s.store.Item(group)
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return at, held, false
	}
	overlap, err := s.store.OverlapRate()
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return at, held, false
	}
	if !available(it, st, who, s.labelerCount(), overlap, ls) {
		fail(w, http.StatusConflict, "your hold on item %s ran out after %v and it went to another labeler meanwhile; nothing was saved: take your next task", group, s.opts.LeaseTTL)
		return at, held, false
	}
	return at, held, true
}

type submitRequest struct {
	GroupID string            `json:"group_id"`
	Ranks   Ranking           `json:"ranks"`
	Ratings map[string]Rating `json:"ratings"`
	Shown   []string          `json:"shown"`
}

// submit records a ranking of the item handed to the labeler (any item for
// an admin: an admin's ranking is the gold ranking) and ends its lease.
func (s *Server) submit(w http.ResponseWriter, r *http.Request, who *Labeler) {
	var req submitRequest
	if !readJSON(w, r, &req) {
		return
	}
	if _, err := s.store.Item(req.GroupID); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	at, held, ok := s.holding(w, req.GroupID, who)
	if !ok {
		return
	}
	kind := KindRank
	if who.Role == RoleAdmin {
		kind = KindGold // an admin's ranking is the gold ranking
	}
	secs := float64(SecondsUnknown)
	if held {
		secs = min(time.Since(at).Seconds(), 3600) // a task left open over lunch says nothing of its difficulty
	}
	sub := Submission{Labeler: who.Name, GroupID: req.GroupID, Kind: kind, Ranks: req.Ranks, Ratings: req.Ratings, Shown: req.Shown, Seconds: secs}
	id, err := s.store.Append(sub)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err := s.store.ReleaseLease(req.GroupID, who.Name); err != nil {
		slog.Warn("label: submission recorded, lease kept", "labeler", who.Name, "group", req.GroupID, "err", err)
	}
	slog.Info("label: submission", "labeler", who.Name, "group", req.GroupID, "kind", kind, "id", id)
	writeJSON(w, http.StatusOK, map[string]any{"id": id})
}

// skip records that the labeler skipped the item handed to them and ends
// its lease, so it can go to someone else.
func (s *Server) skip(w http.ResponseWriter, r *http.Request, who *Labeler) {
	var req struct {
		GroupID string `json:"group_id"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if _, err := s.store.Item(req.GroupID); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, _, ok := s.holding(w, req.GroupID, who); !ok {
		return
	}
	id, err := s.store.Append(Submission{Labeler: who.Name, GroupID: req.GroupID, Kind: KindSkip})
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err := s.store.ReleaseLease(req.GroupID, who.Name); err != nil {
		slog.Warn("label: skip recorded, lease kept", "labeler", who.Name, "group", req.GroupID, "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id})
}

// undo withdraws the labeler's last rank, skip or (for an admin) gold
// ranking still in effect by appending an undo row; the item comes back as
// the next task. Undos run one at a time, so parallel undos withdraw
// different rows.
func (s *Server) undo(w http.ResponseWriter, r *http.Request, who *Labeler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.store.State()
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	h := st.History[who.Name]
	if len(h) == 0 {
		fail(w, http.StatusConflict, "nothing to undo")
		return
	}
	last := h[len(h)-1]
	id, err := s.store.Append(Submission{Labeler: who.Name, GroupID: last.GroupID, Kind: KindUndo, Undoes: last.ID})
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "undone": last.ID, "group_id": last.GroupID})
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request, who *Labeler) {
	st, err := s.store.Stats(StatsOptions{Threshold: s.opts.Threshold})
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) setOverlap(w http.ResponseWriter, r *http.Request, who *Labeler) {
	var req struct {
		Rate float64 `json:"rate"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if err := s.store.SetOverlapRate(req.Rate, who.Name); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rate": req.Rate})
}

// gold sets the gold ranking of any item (not only the admin's next task).
func (s *Server) gold(w http.ResponseWriter, r *http.Request, who *Labeler) {
	var req struct {
		GroupID string  `json:"group_id"`
		Ranks   Ranking `json:"ranks"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	id, err := s.store.Append(Submission{Labeler: who.Name, GroupID: req.GroupID, Kind: KindGold, Ranks: req.Ranks, Seconds: SecondsUnknown})
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id})
}

// isLoopback reports whether a listen address only accepts local clients.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve opens the database, loads the responses and serves the web app
// until ctx is cancelled.
func Serve(ctx context.Context, opts ServeOptions) error {
	// Zero means the default; a negative setting is a mistake, not a default.
	switch {
	case opts.MaxBodyBytes < 0:
		return fmt.Errorf("label serve: MaxBodyBytes %d: must not be negative", opts.MaxBodyBytes)
	case opts.LeaseTTL < 0:
		return fmt.Errorf("label serve: LeaseTTL %v: must not be negative", opts.LeaseTTL)
	case opts.Threshold < 0 || opts.Threshold > 1:
		return fmt.Errorf("label serve: Threshold %g: want a share in (0, 1]", opts.Threshold)
	}
	opts.defaults()
	if opts.DB == "" {
		return errors.New("label serve: no database path given")
	}
	store, err := OpenStore(opts.DB)
	if err != nil {
		return err
	}
	defer store.Close()
	if len(opts.Responses) > 0 {
		n, err := store.LoadResponses(ctx, opts.Responses...)
		if err != nil {
			return option.Errorf("{Responses}: %w", err)
		}
		slog.Info("label serve: loaded responses", "new_items", n)
	}
	items, err := store.Items()
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return option.Errorf("label serve: %s has no items; give {Responses} DIR", opts.DB)
	}
	if !isLoopback(opts.Addr) {
		slog.Warn("label serve: listening beyond loopback; anyone who can reach this address can try tokens", "addr", opts.Addr)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return option.Errorf("{Addr} %s: %w", opts.Addr, err)
	}
	srv := &http.Server{
		Handler:           NewServer(store, opts),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	slog.Info("label serve: listening", "url", "http://"+ln.Addr().String()+"/", "items", len(items), "db", opts.DB)
	if opts.OnListen != nil {
		opts.OnListen(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shut)
	}
}
