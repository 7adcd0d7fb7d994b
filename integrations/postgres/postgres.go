// Package postgres reads the health of the operated ShiftWise PostgreSQL
// database: whether it accepts connections (pg_isready's meaning) and how
// its connection slots are used (the runbook's "Database Connection Issues").
//
// It is one of the few packages that import pgx; callers see only the types
// declared here. Every call is bounded by its context, and by a default
// deadline when the context has none.
package postgres

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shiftwise/shiftwise-bot/internal/pgpool"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
)

const (
	applicationName = "shiftwise-bot"
	maxConns        = 4
	// connectTimeout bounds every connection attempt the pool makes. pgxpool
	// dials on its own context, not on the caller's: a caller whose context
	// expires gets its error in time, but the dial goes on in the background
	// and holds a pool slot until this timeout ends it.
	connectTimeout = 5 * time.Second
	// defaultTimeout bounds calls whose context carries no deadline.
	defaultTimeout = 10 * time.Second
)

// ErrAuth means the server answered and accepts connections, but refused
// to let us log in (wrong password, unknown role, role without LOGIN, no
// pg_hba.conf entry). Connections reports it; Ready never does, because it
// does not log in.
var ErrAuth = errors.New("postgres: authentication failed")

// SQLSTATE codes that Ready and Connections interpret.
const (
	codeCannotConnectNow     = "57P03" // starting up, shutting down, in recovery
	codeInvalidPassword      = "28P01"
	codeInvalidAuthorization = "28000"
)

// loginRefused is a login the server refused: it satisfies
// errors.Is(err, ErrAuth) and reads as the server's own short sentence,
// which names the role but never a password.
type loginRefused struct{ pg *pgconn.PgError }

func (e *loginRefused) Error() string {
	return fmt.Sprintf("login refused: %s (SQLSTATE %s)", e.pg.Message, e.pg.Code)
}
func (e *loginRefused) Is(target error) bool { return target == ErrAuth }
func (e *loginRefused) Unwrap() error        { return e.pg }

// Values Connections passes to its query.
const (
	stateUnknown             = "unknown" // a client backend without a state
	backendTypeClientBackend = "client backend"
)

// DB is the operated database. It holds a small, lazily connected pool.
type DB struct {
	pool    *pgxpool.Pool
	connCfg *pgconn.Config // for Ready's fresh connections
}

// Open prepares a connection pool for url without connecting: the database
// may well be the thing that is down. The pool holds at most 4 connections,
// each named application_name=shiftwise-bot unless url names another.
// A malformed url is reported with its password masked.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgpool.Config(url, "database", maxConns, connectTimeout, applicationName)
	if err != nil {
		return nil, err
	}
	connCfg := cfg.ConnConfig.Config.Copy()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, &redact.SafeError{Msg: fmt.Sprintf("open database pool for %s: %s",
			redact.URL(url), redact.Scrub(err.Error(), url))}
	}
	return &DB{pool: pool, connCfg: connCfg}, nil
}

// Close closes the pool's connections.
func (d *DB) Close() { d.pool.Close() }

// Readiness is what pg_isready reports.
type Readiness struct {
	// Accepting is true when the server answered our start-up message with
	// an authentication request, or with any refusal other than "starting
	// up / shutting down" (SQLSTATE 57P03): it accepts connections, even
	// if it would not let us in.
	Accepting bool
	// Reason is the server's message when it refused the start-up: why it
	// does not accept connections ("the database system is starting up"),
	// or why it would refuse the session although it does ("no pg_hba.conf
	// entry for ...", "sorry, too many clients already").
	Reason string
}

// Ready asks the server what pg_isready asks, and as cheaply: it opens one
// fresh connection (never the pool's: a server that is shutting down still
// serves the sessions it has while it refuses new ones), sends a start-up
// message and reads the server's first answer. It never authenticates: no
// password leaves the process, and there is no session to ask for more.
//
//   - an authentication request of any kind: Accepting, no Reason.
//   - "starting up", "shutting down", "in recovery" (SQLSTATE 57P03):
//     not Accepting, with the server's Reason; no error.
//   - any other refusal (no pg_hba.conf entry, too many clients, no user
//     name): Accepting, with the server's Reason; no error.
//   - no answer (refused, unreachable, closed, ctx expired): an error.
//
// sslmode is honoured as libpq does it: an SSLRequest first when the
// configuration asks for TLS, plain text after the server's "N" only when
// the mode allows it (prefer). Several hosts are tried in order until one
// answers.
func (d *DB) Ready(ctx context.Context) (Readiness, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	var errs error
	deadDial := map[string]error{} // addresses whose dial failed, and why
	attempts := d.attempts()
	for i := 0; i < len(attempts); i++ {
		if ctx.Err() != nil {
			break
		}
		a := attempts[i]
		// sslmode=prefer is a TLS attempt followed by a plain one to the
		// same place: after the server's "N" the TLS attempt goes on in
		// plain text on its connection, as libpq does, instead of dialling
		// again.
		plainNext := a.tls != nil && i+1 < len(attempts) && attempts[i+1].tls == nil &&
			attempts[i+1].host == a.host && attempts[i+1].port == a.port
		r, wentPlain, err := d.probeHost(ctx, a, plainNext, deadDial)
		if err == nil {
			return r, nil
		}
		if errs == nil {
			errs = err
		} else {
			errs = fmt.Errorf("%w; %w", errs, err)
		}
		if wentPlain {
			i++ // the plain attempt is the one that just failed
		}
	}
	if errs == nil { // ctx ended before the first attempt
		errs = ctx.Err()
	}
	return Readiness{}, fmt.Errorf("check postgres readiness: %w", errs)
}

// attempt is one host of the configuration with its TLS setting, as pgconn
// lists them: the main host first, then its Fallbacks.
type attempt struct {
	host string
	port uint16
	tls  *tls.Config // nil: plain text
}

func (d *DB) attempts() []attempt {
	c := d.connCfg
	list := []attempt{{c.Host, c.Port, c.TLSConfig}}
	for _, f := range c.Fallbacks {
		list = append(list, attempt{f.Host, f.Port, f.TLSConfig})
	}
	return list
}

// probeHost resolves a's host as pgconn does and probes its addresses in
// order until one answers.
func (d *DB) probeHost(ctx context.Context, a attempt, plainOK bool, deadDial map[string]error) (Readiness, bool, error) {
	if d.connCfg.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.connCfg.ConnectTimeout)
		defer cancel()
	}
	var addrs [][2]string // network, address
	if network, address := pgconn.NetworkAddress(a.host, a.port); network == "unix" {
		addrs = append(addrs, [2]string{network, address})
	} else {
		ips, err := d.connCfg.LookupFunc(ctx, a.host)
		if err != nil {
			return Readiness{}, false, fmt.Errorf("resolve %s: %w", a.host, ctxErr(ctx, err))
		}
		for _, ip := range ips {
			port := a.port
			if h, p, err := net.SplitHostPort(ip); err == nil { // a LookupFunc may name the port
				if n, err := strconv.ParseUint(p, 10, 16); err == nil {
					ip, port = h, uint16(n)
				}
			}
			network, address := pgconn.NetworkAddress(ip, port)
			addrs = append(addrs, [2]string{network, address})
		}
	}
	var errs error
	wentPlain := false
	for _, na := range addrs {
		if ctx.Err() != nil {
			break
		}
		err, dead := deadDial[na[1]] // failed a moment ago: TLS or not makes no difference
		if !dead {
			var r Readiness
			var plain, dialed bool
			r, plain, dialed, err = d.probe(ctx, na[0], na[1], a, plainOK)
			if err == nil {
				return r, plain, nil
			}
			wentPlain = wentPlain || plain
			if !dialed {
				deadDial[na[1]] = err
			}
		}
		if errs == nil {
			errs = err
		} else {
			errs = fmt.Errorf("%w; %w", errs, err)
		}
	}
	if errs == nil { // no address, or ctx ended before the first
		errs = ctx.Err()
		if errs == nil {
			errs = fmt.Errorf("resolve %s: no address", a.host)
		}
	}
	return Readiness{}, wentPlain, errs
}

// Limits of the probe's reading: an answer to a start-up message is one
// short message.
const maxStartupAnswer = 16 << 10

var errTLSRefused = errors.New("server does not support SSL, but the sslmode requires it")

// probe is pg_isready against one address: start-up message, first answer.
// plain reports whether the server declined TLS and the probe went on in
// plain text; dialed whether the address accepted the connection at all.
func (d *DB) probe(ctx context.Context, network, address string, a attempt, plainOK bool) (r Readiness, plain, dialed bool, err error) {
	conn, err := d.connCfg.DialFunc(ctx, network, address)
	if err != nil {
		return Readiness{}, false, false, ctxErr(ctx, err)
	}
	defer conn.Close()
	dialed = true
	// A server that accepts and never answers ends with ctx: the deadline
	// ends every read and write, and cancellation closes the socket.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	fail := func(what string, err error) (Readiness, bool, bool, error) {
		return Readiness{}, plain, true, fmt.Errorf("%s %s: %w", what, address, ctxErr(ctx, err))
	}

	var rw io.ReadWriter = conn
	if a.tls != nil {
		if d.connCfg.SSLNegotiation != "direct" {
			req, _ := (&pgproto3.SSLRequest{}).Encode(nil)
			if _, err := conn.Write(req); err != nil {
				return fail("send SSLRequest to", err)
			}
			var answer [1]byte
			if _, err := io.ReadFull(conn, answer[:]); err != nil {
				return fail("read SSLRequest answer from", err)
			}
			switch answer[0] {
			case 'S':
			case 'N':
				if !plainOK {
					return fail("TLS with", errTLSRefused)
				}
				plain = true
			default:
				return fail("TLS with", fmt.Errorf("unexpected answer %q to SSLRequest", answer[0]))
			}
		}
		if !plain {
			tc := tls.Client(conn, a.tls)
			if err := tc.HandshakeContext(ctx); err != nil {
				return fail("TLS handshake with", err)
			}
			rw = tc
		}
	}

	params := map[string]string{"user": d.connCfg.User, "application_name": applicationName}
	if name := d.connCfg.RuntimeParams["application_name"]; name != "" {
		params["application_name"] = name
	}
	if d.connCfg.Database != "" {
		params["database"] = d.connCfg.Database
	}
	startup, err := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: params}).Encode(nil)
	if err != nil {
		return fail("encode start-up message for", err)
	}
	if _, err := rw.Write(startup); err != nil {
		return fail("send start-up message to", err)
	}

	// The first backend message decides, as in libpq's PQping. Its header
	// is read by hand so that every authentication request counts, also
	// the kinds pgproto3 cannot decode (SSPI, SCM credentials).
	var hdr [5]byte
	if _, err := io.ReadFull(rw, hdr[:]); err != nil {
		return fail("read answer to start-up from", err)
	}
	n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
	if n < 0 || n > maxStartupAnswer {
		return fail("start-up with", fmt.Errorf("answer %q of %d bytes: not a PostgreSQL server?", hdr[0], n))
	}
	switch hdr[0] {
	case 'R': // Authentication*: it would let us try to log in.
		// Read the request to its end, then hang up without a Terminate,
		// as pg_isready does. The server then ends the backend silently;
		// a Terminate in the middle of authentication makes it log
		// "FATAL: expected SASL response", and unread bytes left in our
		// socket turn the close into a reset that it logs too.
		_, _ = io.ReadFull(rw, make([]byte, n)) // the header already answered
		return Readiness{Accepting: true}, plain, true, nil
	case 'E':
		body := make([]byte, n)
		if _, err := io.ReadFull(rw, body); err != nil {
			return fail("read answer to start-up from", err)
		}
		var e pgproto3.ErrorResponse
		if err := e.Decode(body); err != nil {
			return fail("decode answer to start-up from", err)
		}
		return Readiness{Accepting: e.Code != codeCannotConnectNow, Reason: e.Message}, plain, true, nil
	default:
		return fail("start-up with", fmt.Errorf("unexpected answer %q: not a PostgreSQL server?", hdr[0]))
	}
}

// ctxErr puts ctx's error in front of err when ctx has ended, so callers
// see context.DeadlineExceeded rather than "use of closed connection" or
// "i/o timeout". The connection's deadline is ctx's, and may pass a moment
// before ctx itself reports it.
func ctxErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if cerr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		cerr = context.DeadlineExceeded
	}
	if cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}

// Connections is how the server's connection slots are used.
type Connections struct {
	// Total counts the client backends we can see, all databases and users.
	Total int
	// Max is the server's max_connections.
	Max int
	// ByState counts those client backends by pg_stat_activity.state
	// ("active", "idle", "idle in transaction", ...).
	ByState map[string]int
	// Hidden counts the pg_stat_activity rows whose type PostgreSQL hides
	// from us: other roles' sessions and the server's own processes, when
	// we are neither superuser nor a member of pg_read_all_stats. They are
	// not in Total, which then undercounts; zero for a privileged role.
	Hidden int
	// Version is server_version, for example "15.18 (Debian 15.18-0+deb12u1)".
	Version string
}

const connectionsSQL = `
SELECT current_setting('max_connections')::int,
       current_setting('server_version'),
       backend_type IS NULL,
       coalesce(state, $1),
       count(*)
FROM pg_stat_activity
WHERE backend_type = $2 OR backend_type IS NULL
GROUP BY 3, 4`

// Connections counts the client sessions in pg_stat_activity by state,
// the runbook's "Check active connections", together with max_connections
// and the server's version. It logs in (through the pool): a refused login
// is an error that satisfies errors.Is(err, ErrAuth).
func (d *DB) Connections(ctx context.Context) (Connections, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	rows, err := d.pool.Query(ctx, connectionsSQL, stateUnknown, backendTypeClientBackend)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			if pgErr.Code == codeInvalidPassword || pgErr.Code == codeInvalidAuthorization {
				return Connections{}, fmt.Errorf("count postgres connections: %w", &loginRefused{pgErr})
			}
			// The server's sentence alone: pgconn's error around it lists
			// every sslmode attempt and hides it in the middle.
			return Connections{}, fmt.Errorf("count postgres connections: %w", pgErr)
		}
		return Connections{}, fmt.Errorf("count postgres connections: %w", err)
	}
	defer rows.Close()

	c := Connections{ByState: map[string]int{}}
	for rows.Next() {
		var (
			maxConn int
			version string
			hidden  bool
			state   string
			n       int64
		)
		if err := rows.Scan(&maxConn, &version, &hidden, &state, &n); err != nil {
			return Connections{}, fmt.Errorf("count postgres connections: read row: %w", err)
		}
		c.Max, c.Version = maxConn, version
		if hidden {
			c.Hidden += int(n)
			continue
		}
		c.ByState[state] += int(n)
		c.Total += int(n)
	}
	if err := rows.Err(); err != nil {
		return Connections{}, fmt.Errorf("count postgres connections: %w", err)
	}
	if c.Max == 0 {
		return Connections{}, errors.New("count postgres connections: pg_stat_activity shows not even our own session")
	}
	return c, nil
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultTimeout)
}
