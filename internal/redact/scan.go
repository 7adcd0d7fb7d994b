package redact

import "strings"

// trigger marks the bytes where a rule may start or end (see run).
var trigger [256]bool

func init() {
	for _, c := range []byte("=:%_-.AJK \n\xe2") {
		trigger[c] = true
	}
}

// scanner is one pass of the rules over s. Masked text is copied into b
// lazily: a text without secrets is returned as it was, without copying.
type scanner struct {
	s    string
	b    []byte
	w    int // s[:w] is settled (copied into b when b != nil)
	open bool
	lits []string
	// pa, pz: a value or URL password to mask once the scan is past it
	// (pz == 0: none); see later.
	pa, pz int
	// joined: a mask covered a blank, quote or delimiter (see structural).
	joined bool
}

// later masks s[a:z] once the scan has gone past it: what starts inside
// (a key block in a quoted value, a literal after "PASSWORD") is scanned
// first, and a mask that starts inside and reaches further joins it.
func (sc *scanner) later(a, z int) {
	if sc.pz > 0 {
		a, z = min(a, sc.pa), max(z, sc.pz)
	}
	sc.pa, sc.pz = a, z
}

// mask replaces s[a:z] with Mask. Parts before w are settled already.
func (sc *scanner) mask(a, z int) {
	if sc.pz > 0 && z >= sc.pa {
		a, z = min(a, sc.pa), max(z, sc.pz)
		sc.pz = 0
	}
	if a < sc.w {
		a = sc.w
	}
	if z <= a {
		return
	}
	if sc.s[a:z] == Mask { // masked already: nothing to do
		return
	}
	if sc.b == nil {
		sc.b = make([]byte, 0, len(sc.s)+len(Mask))
	}
	sc.b = append(sc.b, sc.s[sc.w:a]...)
	sc.b = append(sc.b, Mask...)
	sc.w = z
	if !sc.joined {
		for j := a; j < z; j++ {
			if structural[sc.s[j]] {
				sc.joined = true
				break
			}
		}
	}
}

// structural marks the bytes that end or separate what the rules look at:
// a mask over one of them may join text that a next pass reads anew.
var structural = func() (t [256]bool) {
	for _, c := range []byte(" \t\r\n\"'`&,;<>\\@/?#:=%-") {
		t[c] = true
	}
	return t
}()

func (sc *scanner) result() string {
	if sc.b == nil {
		return sc.s
	}
	return string(append(sc.b, sc.s[sc.w:]...))
}

// run scans s once. Each handler returns the index of the last byte it
// looked at and settled (i when it found nothing), so scanning goes on
// after what was masked.
func (sc *scanner) run() {
	s := sc.s
	i := sc.lineStart(0)
	for i++; i < len(s); i++ {
		if !trigger[s[i]] {
			continue
		}
		if sc.pz > 0 && i >= sc.pz {
			sc.mask(sc.pa, sc.pz)
		}
		if i < sc.w {
			i = sc.w - 1
			continue
		}
		switch s[i] {
		case '\n':
			i = sc.lineStart(i + 1)
		case '=':
			i = sc.keyValue(i, i+1)
		case ':':
			switch {
			case strings.HasPrefix(s[i+1:], "//"):
				i = sc.url(i, i+3, false)
			case i > 0 && i+1 < len(s) && isDigit(s[i-1]) && isDigit(s[i+1]):
				// a time or an address: 12:00:00, 10.0.0.1:5432
			default:
				i = sc.keyValue(i, i+1)
			}
		case '%':
			switch {
			case hasFoldPrefix(s[i:], "%3a%2f%2f"):
				i = sc.url(i, i+9, true)
			case hasFoldPrefix(s[i:], "%3d") || hasFoldPrefix(s[i:], "%3a"):
				i = sc.keyValue(i, i+3)
			}
		case '-':
			if strings.HasPrefix(s[i:], "-----") {
				i = sc.pem(i)
				continue
			}
			if i > 0 && len(byPunct[1][s[i-1]]) > 0 {
				i = sc.prefixed(i)
			}
		case '_', '.':
			if i > 0 && len(byPunct[punctIndex(s[i])][s[i-1]]) > 0 {
				i = sc.prefixed(i)
			}
		case 'A':
			i = sc.upperA(i)
		case 'J':
			i = sc.jwt(i)
		case 'K':
			i = sc.twilio(i)
		case ' ':
			if c := s[max(i, 1)-1] | 0x20; c == 'r' || c == 'c' || c == 'd' {
				i = sc.afterWord(i)
			}
		case 0xe2:
			if strings.HasPrefix(s[i:], clipMark) {
				sc.clipped(i)
			}
		}
	}
	if sc.pz > 0 {
		sc.mask(sc.pa, sc.pz)
	}
}

// ---- character classes

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isLetter(c byte) bool {
	return isUpper(c) || isLower(c)
}
func isAlnum(c byte) bool { return isLetter(c) || isDigit(c) }
func isWord(c byte) bool  { return isAlnum(c) || c == '_' }
func isHex(c byte) bool   { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
func isB64(c byte) bool   { return isAlnum(c) || c == '+' || c == '/' || c == '=' }
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isKeyByte: a character of a setting's name (DB_PASSWORD, api-key, x.token).
func isKeyByte(c byte) bool { return isWord(c) || c == '-' || c == '.' }

// hasFoldPrefix reports whether s starts with lower (ASCII, lower case),
// ignoring case.
func hasFoldPrefix(s, lower string) bool {
	if len(s) < len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if isUpper(c) {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func hasFoldSuffix(s, lower string) bool {
	return len(s) >= len(lower) && hasFoldPrefix(s[len(s)-len(lower):], lower)
}

// run returns the end of the run of bytes in class starting at i.
func runOf(s string, i int, class func(byte) bool) int {
	for i < len(s) && class(s[i]) {
		i++
	}
	return i
}

// clipAt reports whether a clip mark starts at i: a secret cut there is
// masked whatever its length.
func (sc *scanner) clipAt(i int) bool { return strings.HasPrefix(sc.s[i:], clipMark) }

// ---- lines of base64

// lineStart masks a line that is nothing but base64 of 40 or more
// characters with upper case, lower case and digits: the body of a key
// whose BEGIN line is not in the text. It returns the last index settled.
func (sc *scanner) lineStart(p int) int {
	s := sc.s
	a := p
	for a < len(s) && (s[a] == ' ' || s[a] == '\t') {
		a++
	}
	var up, low, dig bool
	z := a
	for ; z < len(s) && isB64(s[z]); z++ {
		c := s[z]
		up, low, dig = up || isUpper(c), low || isLower(c), dig || isDigit(c)
	}
	if z-a >= 40 && up && low && dig && (z == len(s) || s[z] == '\n' || s[z] == '\r') {
		sc.mask(a, z)
		return z - 1
	}
	return p - 1
}

// ---- name=value settings

// keyValue handles a separator s[sep:v] ('=', ':', %3D, %3A): when the
// name before it holds a secret's key word, the value after it is masked.
// The name is read from the original text even where it was masked (a
// token run together with "password=" still names a password).
func (sc *scanner) keyValue(sep, v int) int {
	s := sc.s
	k := sep
	for n := 0; n < 3 && k > 0 && (s[k-1] == ' ' || s[k-1] == '\t' || s[k-1] == '"' || s[k-1] == '\'' || s[k-1] == '`'); n++ {
		k--
	}
	end := k
	for k > 0 && end-k < 64 && isKeyByte(s[k-1]) {
		k--
	}
	if k == end || !secretKey(s[k:end]) {
		return sep
	}
	if s[sep] == ':' && end == sep && v < len(s) && s[v] == ' ' && s[end-1]|0x20 == 's' {
		// Prose ("no secrets: health PASSED"): a plural name followed by a
		// plain lower-case word is not a setting.
		a := v + 1
		if z := runOf(s, a, isLower); z > a && (z == len(s) || isSpace(s[z]) || s[z] == '.' || s[z] == ',') {
			return sep
		}
	}
	return sc.value(v, hasFoldSuffix(s[k:end], "authorization"))
}

// value masks a setting's value starting at v (after up to 5 blanks, '=',
// '>' and one opening quote). An authorization scheme word (Bearer, Basic,
// Token, ...) is kept and the credential after it masked.
func (sc *scanner) value(v int, header bool) int {
	s := sc.s
	var q byte
	for n := 0; v < len(s) && n < 5; n++ {
		c := s[v]
		if c == ' ' || c == '\t' || c == '=' || c == '>' {
			v++
			continue
		}
		if c == '"' || c == '\'' || c == '`' {
			q = c
			v++
		}
		break
	}
	if v >= len(s) {
		return len(s) - 1
	}
	if strings.HasPrefix(s[v:], "-----") {
		return sc.pem(v)
	}
	if q != 0 {
		z := v
		for z < len(s) && s[z] != q && s[z] != '\n' {
			if s[z] == '\\' && z+1 < len(s) {
				z++
			}
			z++
		}
		z = min(z, len(s))
		if w := runOf(s, v, isLetter); w < z && s[w] == ' ' && isScheme(s[v:w]) {
			v = w + 1
		}
		sc.later(v, z)
		return v - 1
	}
	z := valueEnd(s, v)
	if z < len(s) && s[z] == ' ' && isScheme(s[v:z]) {
		v2 := z + 1
		for v2 < len(s) && s[v2] == ' ' {
			v2++
		}
		if z2 := valueEnd(s, v2); z2 > v2 {
			sc.later(v2, z2)
			return v2 - 1
		}
		return z - 1
	}
	if header && z < len(s) && s[z] == ' ' {
		// Authorization: <scheme> <credential> with an unknown scheme.
		if z2 := valueEnd(s, z+1); z2 > z+1 {
			z = z2
		}
	}
	if z > v {
		sc.later(v, z)
		if c := s[z-1]; (c == ':' || c == '=') && z < len(s) {
			// "sig:AWS_SECRET_ACCESS_KEY: value": the value was itself a
			// name; what follows it is a value too.
			sc.value(z, false)
		}
		return v - 1
	}
	return v - 1
}

// valueEnd is where an unquoted value ends: a blank, a quote, & , ; < >,
// a backslash (an escaped line end in JSON), or one of those percent-encoded.
func valueEnd(s string, v int) int {
	z := v
	for ; z < len(s); z++ {
		switch c := s[z]; c {
		case ' ', '\t', '\n', '\r', '"', '\'', '`', '&', ',', ';', '<', '>', '\\':
			return z
		case '%':
			if z+2 < len(s) && isEncodedStop(s[z+1], s[z+2]) {
				return z
			}
		}
	}
	return z
}

func isEncodedStop(a, b byte) bool {
	if isLower(b) {
		b -= 'a' - 'A'
	}
	switch a {
	case '0':
		return b == '9' || b == 'A' || b == 'D'
	case '2':
		return b == '0' || b == '2' || b == '6' || b == '7' || b == 'C'
	case '3':
		return b == 'B' || b == 'C' || b == 'E'
	}
	return false
}

var schemes = []string{"bearer", "basic", "token", "digest", "bot", "apikey", "key", "negotiate", "ntlm", "hmac", "aws4-hmac-sha256"}

func isScheme(w string) bool {
	if len(w) < 3 || len(w) > 16 {
		return false
	}
	for _, sch := range schemes {
		if len(w) == len(sch) && hasFoldPrefix(w, sch) {
			return true
		}
	}
	return false
}

// secretKey reports whether a setting's name names a secret: it holds
// pass (password, passwd, passphrase, passcode; not passed, passing), pwd,
// auth (not author), cred, secret, token, signature, or a key word
// (api_key, access-key, private.key, ..., or the bare "key").
func secretKey(w string) bool {
	for j := 0; j+3 <= len(w); j++ {
		switch w[j] | 0x20 {
		case 'p':
			if hasFoldPrefix(w[j:], "pass") {
				if j+4 == len(w) {
					return true
				}
				switch c := w[j+4] | 0x20; {
				case c == 'w' || c == 'p' || c == 'c' || !isLetter(w[j+4]):
					return true
				}
			}
			if hasFoldPrefix(w[j:], "pwd") {
				return true
			}
		case 'a':
			if hasFoldPrefix(w[j:], "auth") && !(hasFoldPrefix(w[j+4:], "or") && !hasFoldPrefix(w[j+4:], "oriz")) {
				return true
			}
		case 'c':
			if hasFoldPrefix(w[j:], "cred") {
				return true
			}
		case 's':
			if hasFoldPrefix(w[j:], "secret") || hasFoldPrefix(w[j:], "signature") {
				return true
			}
			if j == 0 && len(w) == 3 && hasFoldPrefix(w, "sig") {
				return true
			}
		case 't':
			if hasFoldPrefix(w[j:], "token") {
				return true
			}
		case 'k':
			if hasFoldPrefix(w[j:], "key") && keyWord(w[:j], w[j+3:]) {
				return true
			}
		}
	}
	return false
}

// keyWord: "key" preceded by a word naming a credential, or the bare
// word "key" (keys, key_b64, but not keyspace).
func keyWord(before, after string) bool {
	before = strings.TrimRight(before, "-_.")
	if before == "" {
		return after == "" || !isLetter(after[0]) || len(after) == 1 && after[0]|0x20 == 's'
	}
	for _, p := range []string{"api", "access", "private", "secret", "signing", "encryption", "master", "client", "license", "app", "account", "subscription", "service", "admin"} {
		if hasFoldSuffix(before, p) {
			return true
		}
	}
	return false
}

// ---- URLs

// url masks the password in scheme://user:password@host (or its
// percent-encoded form, %3A%2F%2F ... %3A ... %40). The userinfo ends at
// the last '@' before the URL ends, so a password holding '/', '@' or ':'
// is masked whole. A userinfo without a password is masked when it looks
// like a token (20 characters or more).
func (sc *scanner) url(i, p int, encoded bool) int {
	s := sc.s
	k := i
	for k > 0 && (isAlnum(s[k-1]) || s[k-1] == '+' || s[k-1] == '.' || s[k-1] == '-') {
		k--
	}
	if k == i {
		return i
	}
	e := p
	for e < len(s) && !isSpace(s[e]) && s[e] != '"' && s[e] != '\'' && s[e] != '`' && s[e] != '<' && s[e] != '>' {
		if encoded && (s[e] == '&' || s[e] == '%' && e+2 < len(s) && isEncodedStop(s[e+1], s[e+2]) && !(s[e+1] == '2' && (s[e+2]|0x20) == 'f')) {
			break
		}
		e++
	}
	// find returns the first (or last) index of c, or of its percent-encoded
	// form, in s[from:to], or -1.
	sepLen := 1
	if encoded {
		sepLen = 3
	}
	find := func(c byte, from, to int, last bool) int {
		if !encoded {
			var k int
			if last {
				k = strings.LastIndexByte(s[from:to], c)
			} else {
				k = strings.IndexByte(s[from:to], c)
			}
			if k < 0 {
				return -1
			}
			return from + k
		}
		found := -1
		for j := from; j+3 <= to; j++ {
			if hasFoldPrefix(s[j:], enc[c]) {
				found = j
				if !last {
					break
				}
			}
		}
		return found
	}
	firstOf := func(cs string, from, to int) int {
		best := -1
		for i := 0; i < len(cs); i++ {
			if k := find(cs[i], from, to, false); k >= 0 && (best < 0 || k < best) {
				best = k
			}
		}
		return best
	}
	// user:password@host, the password holding anything up to the last '@'.
	if at := find('@', p, e, true); at >= 0 {
		if colon := find(':', p, at, false); colon >= 0 && firstOf("/?#", p, colon) < 0 {
			sc.later(colon+sepLen, at)
			return p - 1
		}
	}
	// Otherwise the authority ends at the first / ? #: a user alone, or
	// user:password in it.
	ae := e
	if k := firstOf("/?#", p, e); k >= 0 {
		ae = k
	}
	if at := find('@', p, ae, true); at >= 0 {
		if colon := find(':', p, at, false); colon >= 0 {
			sc.later(colon+sepLen, at)
			return p - 1
		}
		if at-p >= 20 && runOf(s, p, func(c byte) bool { return isWord(c) || c == '-' || c == '.' || c == '~' || c == '%' }) == at {
			sc.later(p, at)
			return p - 1
		}
		return p - 1
	}
	// No '@': a URL clipped inside its password ("u:pass…") is masked
	// from the colon; anything else is scanned on as usual.
	if strings.HasSuffix(s[p:e], clipMark) {
		if colon := find(':', p, e, false); colon >= 0 && firstOf("/?#", p, colon) < 0 {
			sc.later(colon+sepLen, e-len(clipMark))
			return p - 1
		}
	}
	return p - 1
}

// enc is the percent-encoded form of the URL delimiters.
var enc = [256]string{'@': "%40", ':': "%3a", '/': "%2f", '?': "%3f", '#': "%23"}

// ---- tokens with a known prefix

type tokenRule struct {
	prefix string
	body   func(byte) bool
	min    int // body characters at least (fewer only before a clip mark)
	punct  int // index of the first non-alphanumeric byte of prefix
}

func tokenBody(c byte) bool   { return isWord(c) || c == '-' }
func slackBody(c byte) bool   { return isAlnum(c) || c == '-' }
func dottedBody(c byte) bool  { return isWord(c) || c == '-' || c == '.' || c == '=' }
func webhookBody(c byte) bool { return isWord(c) || c == '-' || c == '/' || c == '+' }
func b64Body(c byte) bool     { return isB64(c) || c == '_' || c == '-' }

// prefixRules are the token formats recognised at their first '_', '-' or
// '.', by the letters before it (gitleaks's default rules' prefixes).
var prefixRules = []tokenRule{
	// GitHub
	{prefix: "ghp_", body: isAlnum, min: 20},
	{prefix: "gho_", body: isAlnum, min: 20},
	{prefix: "ghu_", body: isAlnum, min: 20},
	{prefix: "ghs_", body: isAlnum, min: 20},
	{prefix: "ghr_", body: isAlnum, min: 20},
	{prefix: "github_pat_", body: isWord, min: 20},
	// GitLab
	{prefix: "glpat-", body: tokenBody, min: 20},
	{prefix: "gldt-", body: tokenBody, min: 20},
	{prefix: "glrt-", body: tokenBody, min: 20},
	{prefix: "glptt-", body: tokenBody, min: 20},
	{prefix: "glft-", body: tokenBody, min: 20},
	{prefix: "glimt-", body: tokenBody, min: 20},
	{prefix: "glagent-", body: tokenBody, min: 20},
	{prefix: "gloas-", body: tokenBody, min: 20},
	{prefix: "glsoat-", body: tokenBody, min: 20},
	{prefix: "glcbt-", body: tokenBody, min: 20},
	{prefix: "glffct-", body: tokenBody, min: 20},
	// Stripe
	{prefix: "sk_live_", body: isAlnum, min: 10},
	{prefix: "sk_test_", body: isAlnum, min: 10},
	{prefix: "sk_prod_", body: isAlnum, min: 10},
	{prefix: "rk_live_", body: isAlnum, min: 10},
	{prefix: "rk_test_", body: isAlnum, min: 10},
	{prefix: "rk_prod_", body: isAlnum, min: 10},
	{prefix: "pk_live_", body: isAlnum, min: 10},
	// Slack
	{prefix: "xoxb-", body: slackBody, min: 8},
	{prefix: "xoxp-", body: slackBody, min: 8},
	{prefix: "xoxa-", body: slackBody, min: 8},
	{prefix: "xoxr-", body: slackBody, min: 8},
	{prefix: "xoxs-", body: slackBody, min: 8},
	{prefix: "xoxo-", body: slackBody, min: 8},
	{prefix: "xoxe-", body: slackBody, min: 8},
	{prefix: "xoxe.xoxb-", body: slackBody, min: 8},
	{prefix: "xoxe.xoxp-", body: slackBody, min: 8},
	{prefix: "xapp-", body: slackBody, min: 8},
	{prefix: "hooks.slack.com/", body: webhookBody, min: 20},
	// npm, SendGrid, OpenAI/Anthropic and others of the default rules
	{prefix: "npm_", body: isAlnum, min: 20},
	{prefix: "SG.", body: dottedBody, min: 20},
	{prefix: "sk-", body: tokenBody, min: 32},
	{prefix: "dop_v1_", body: isHex, min: 32},
	{prefix: "doo_v1_", body: isHex, min: 32},
	{prefix: "dor_v1_", body: isHex, min: 32},
	{prefix: "hf_", body: isLetter, min: 20},
	{prefix: "shpat_", body: isHex, min: 20},
	{prefix: "shpca_", body: isHex, min: 20},
	{prefix: "shppa_", body: isHex, min: 20},
	{prefix: "shpss_", body: isHex, min: 20},
	{prefix: "lin_api_", body: isAlnum, min: 20},
	{prefix: "hvs.", body: tokenBody, min: 20},
	{prefix: "hvb.", body: tokenBody, min: 20},
	{prefix: "dp.pt.", body: isAlnum, min: 20},
	{prefix: "PMAK-", body: slackBody, min: 20},
	{prefix: "AGE-SECRET-KEY-1", body: isAlnum, min: 20},
	{prefix: "pul-", body: isHex, min: 20},
	{prefix: "rubygems_", body: isHex, min: 20},
	{prefix: "glc_", body: b64Body, min: 20},
	{prefix: "glsa_", body: tokenBody, min: 20},
	{prefix: "sntryu_", body: isHex, min: 20},
	{prefix: "sntrys_", body: b64Body, min: 20},
	{prefix: "pypi-", body: tokenBody, min: 50},
	{prefix: "xkeysib-", body: slackBody, min: 20},
	{prefix: "pscale_tkn_", body: dottedBody, min: 20},
	{prefix: "pscale_oauth_", body: dottedBody, min: 20},
	{prefix: "pscale_pw_", body: dottedBody, min: 20},
	{prefix: "pnu_", body: isAlnum, min: 20},
	{prefix: "rdme_", body: isAlnum, min: 20},
	{prefix: "ntn_", body: isAlnum, min: 20},
	{prefix: "fo1_", body: tokenBody, min: 20},
	{prefix: "dt0c01.", body: dottedBody, min: 20},
	{prefix: "sq0atp-", body: tokenBody, min: 20},
	{prefix: "sq0csp-", body: tokenBody, min: 20},
}

// byPunct indexes prefixRules by their first punctuation ('_', '-', '.')
// and the byte before it.
var byPunct [3][256][]tokenRule

func punctIndex(c byte) int { return strings.IndexByte("_-.", c) }

func init() {
	for _, r := range prefixRules {
		r.punct = strings.IndexFunc(r.prefix, func(c rune) bool { return !isAlnum(byte(c)) })
		p, prev := punctIndex(r.prefix[r.punct]), r.prefix[r.punct-1]
		byPunct[p][prev] = append(byPunct[p][prev], r)
	}
}

// prefixed checks the rules whose first punctuation is s[i].
func (sc *scanner) prefixed(i int) int {
	s := sc.s
	if i == 0 {
		return i
	}
	for _, r := range byPunct[punctIndex(s[i])][s[i-1]] {
		a := i - r.punct
		if a < 0 || !strings.HasPrefix(s[a:], r.prefix) {
			continue
		}
		b := a + len(r.prefix)
		z := runOf(s, b, r.body)
		if z-b >= r.min || z > b-1 && sc.clipAt(z) {
			sc.mask(a, z)
			return z - 1
		}
	}
	return i
}

// upperA: AWS access key IDs (AKIA, ASIA, ABIA, ACCA, A3T?), Google API
// keys (AIza) and Square tokens (EAAA), with no word boundary needed.
func (sc *scanner) upperA(i int) int {
	s := sc.s
	if len(s)-i < 4 {
		return i
	}
	a, b, min, body := -1, 0, 0, isAlnum
	switch p := s[i : i+4]; {
	case p == "AKIA" || p == "ASIA" || p == "ABIA" || p == "ACCA" || p[1] == '3' && p[2] == 'T' && (isUpper(p[3]) || isDigit(p[3])):
		a, b, min, body = i, i+4, 16, func(c byte) bool { return isUpper(c) || isDigit(c) }
	case p == "AIza":
		a, b, min, body = i, i+4, 30, tokenBody
	case i > 0 && s[i-1] == 'E' && p[:3] == "AAA":
		a, b, min, body = i-1, i+3, 22, tokenBody
	default:
		return i
	}
	z := runOf(s, b, body)
	if z-b >= min || sc.clipAt(z) {
		sc.mask(a, z)
		return z - 1
	}
	return i
}

// jwt: eyJ… base64url JSON, masked when it has a '.' (a JWT, JWS or JWE)
// and 20 characters, or 40 without.
func (sc *scanner) jwt(i int) int {
	s := sc.s
	if i < 2 || s[i-2] != 'e' || s[i-1] != 'y' {
		return i
	}
	a := i - 2
	z, dot := a, false
	for z < len(s) && (isWord(s[z]) || s[z] == '-' || s[z] == '.' || s[z] == '+' || s[z] == '/' || s[z] == '=') {
		dot = dot || s[z] == '.'
		z++
	}
	if dot && z-a >= 20 || z-a >= 40 || z-a > 3 && sc.clipAt(z) {
		sc.mask(a, z)
		return z - 1
	}
	return i
}

// twilio: SK followed by 32 hex digits or more.
func (sc *scanner) twilio(i int) int {
	s := sc.s
	if i == 0 || s[i-1] != 'S' {
		return i
	}
	z := runOf(s, i+1, isHex)
	if z-(i+1) >= 32 || z > i+1 && sc.clipAt(z) {
		sc.mask(i-1, z)
		return z - 1
	}
	return i
}

// afterWord handles a blank after "Bearer" or "Basic" (the credential
// follows) and after "password" before a SQL literal ('…').
func (sc *scanner) afterWord(i int) int {
	s := sc.s
	if i == 0 || i+1 >= len(s) {
		return i
	}
	switch s[i-1] | 0x20 {
	case 'r', 'c':
		if !hasFoldSuffix(s[:i], "bearer") && !hasFoldSuffix(s[:i], "basic") {
			return i
		}
		v := i + 1
		for v < len(s) && s[v] == ' ' {
			v++
		}
		z := runOf(s, v, func(c byte) bool { return isAlnum(c) || strings.IndexByte("._~+/=-", c) >= 0 })
		if z-v >= 8 && runOf(s, v, isLower) < z || z > v && sc.clipAt(z) {
			sc.mask(v, z)
			return z - 1
		}
	case 'd':
		if !hasFoldSuffix(s[:i], "password") {
			return i
		}
		if s[i+1] != '\'' {
			// PASSWORD Xy12z, its quotes lost to a shell or a tokenizer:
			// a word with a capital or a digit (not NULL, not prose).
			z := runOf(s, i+1, func(c byte) bool { return !isSpace(c) && c != ';' && c != ',' })
			w := s[i+1 : z]
			if len(w) >= 4 && runOf(w, 0, isLower) < len(w) && !hasFoldPrefix(w, "null") && w != Mask {
				sc.mask(i+1, z)
				return z - 1
			}
			return i
		}
		v := i + 2
		z := v
		for z < len(s) && s[z] != '\n' {
			if s[z] == '\'' {
				if z+1 < len(s) && s[z+1] == '\'' {
					z += 2
					continue
				}
				break
			}
			z++
		}
		sc.mask(v, z)
		return max(z-1, v-1)
	}
	return i
}

// ---- private keys

// pem masks a -----BEGIN … PRIVATE KEY----- block to its END line (to the
// end of the text when there is none: then the text ends inside the key).
// An END line without its BEGIN masks the base64 ending each line above
// it: the rest of a key whose start was cut off.
func (sc *scanner) pem(i int) int {
	s := sc.s
	var begin bool
	switch {
	case strings.HasPrefix(s[i:], "-----BEGIN"):
		begin = true
	case strings.HasPrefix(s[i:], "-----END"):
	default:
		return i
	}
	j := i + 8
	if begin {
		j = i + 10
	}
	c := strings.Index(s[j:min(len(s), j+110)], "-----")
	if c < 0 || !strings.Contains(s[j:j+c], "PRIVATE KEY") {
		return i + 4
	}
	hdrEnd := j + c + 5
	if !begin {
		// The END line itself is no secret and stays: a later pass over
		// the whole reply finds the lines above it by it.
		if i == 0 || isSpace(s[i-1]) {
			sc.maskAbove(i)
		}
		return hdrEnd - 1
	}
	e := strings.Index(s[hdrEnd:], "-----END")
	if e < 0 {
		sc.mask(i, len(s))
		sc.open = true
		return len(s) - 1
	}
	e += hdrEnd
	z := len(s)
	if c := strings.Index(s[e+8:min(len(s), e+120)], "-----"); c >= 0 {
		z = e + 8 + c + 5
	}
	sc.mask(i, z)
	return z - 1
}

// maskAbove masks, line by line upwards from the line holding i, the last
// word of each line while it is base64 (or already masked).
func (sc *scanner) maskAbove(i int) {
	s := sc.s
	type span struct{ a, z int }
	var spans []span
	ls := strings.LastIndexByte(s[:i], '\n') // end of the line above
	for ls >= 0 {
		z := ls
		for z > 0 && (s[z-1] == '\r' || s[z-1] == ' ' || s[z-1] == '\t') {
			z--
		}
		a := z
		for a > 0 && !isSpace(s[a-1]) {
			a--
		}
		w := s[a:z]
		if w == "" || w != Mask && (runOf(w, 0, isB64) != len(w) || len(spans) > 0 && len(w) < 40) || len(spans) > 0 && w == Mask {
			break
		}
		spans = append(spans, span{a, z})
		ls = strings.LastIndexByte(s[:a], '\n')
	}
	for k := len(spans) - 1; k >= 0; k-- {
		if spans[k].a < sc.w && s[spans[k].a:spans[k].z] != Mask {
			sc.joined = true // settled already in this pass: the next one masks it
			continue
		}
		sc.mask(spans[k].a, spans[k].z)
	}
}

// ---- clip marks

// clipped masks the start of a configured literal secret cut by a clip
// mark at i (the known formats check for the mark themselves).
func (sc *scanner) clipped(i int) {
	s := sc.s
	for _, l := range sc.lits {
		for n := min(len(l)-1, i-sc.w); n >= 4; n-- {
			if s[i-n:i] == l[:n] {
				sc.mask(i-n, i)
				return
			}
		}
	}
}
