// Package redacttest makes a corpus of fake secrets in the real formats the
// redactor knows (gitleaks's default rules' formats and the bot's own), for
// tests of every path output takes. The values are random, generated per
// run: none is a real credential.
package redacttest

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Item is one line (or block) of text carrying a secret.
type Item struct {
	Name string
	Text string
	// Secrets are the parts that must never be shown: the secret and its
	// distinctive fragments (each 8 characters or more).
	Secrets []string
	// Prefix is a harmless start of the secret a user might --grep for
	// ("AKIA", "ghp_"), or "" when the secret has none.
	Prefix string
	// MultiLine items span lines (a PEM block).
	MultiLine bool
}

const (
	upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lower  = "abcdefghijklmnopqrstuvwxyz"
	digits = "0123456789"
	alnum  = upper + lower + digits
	hexd   = "0123456789abcdef"
	b64    = alnum + "+/"
	b64url = alnum + "-_"
)

// Corpus returns the fake secrets for seed, each in a line as a log, a
// command or a setting would show it.
func Corpus(seed uint64) []Item {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	rnd := func(n int, set string) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = set[r.IntN(len(set))]
		}
		// Mixed classes, so nothing reads as a plain word or number.
		if n >= 3 && strings.ContainsAny(set, upper) && strings.ContainsAny(set, lower) && strings.ContainsAny(set, digits) {
			b[0], b[1], b[2] = upper[r.IntN(26)], lower[r.IntN(26)], digits[r.IntN(10)]
		}
		return string(b)
	}
	one := func(name, prefix, secret, format string) Item {
		return Item{Name: name, Text: fmt.Sprintf(format, secret), Secrets: []string{secret}, Prefix: prefix}
	}
	pw := func() string { return rnd(14, alnum) }
	var c []Item
	c = append(c,
		one("aws access key id", "AKIA", "AKIA"+rnd(16, upper+"234567"), "GET /upload?key=%s 200"),
		one("aws sts key id", "ASIA", "ASIA"+rnd(16, upper+"234567"), "using credentials of %s for s3"),
		one("aws secret access key", "", rnd(40, b64), "aws_secret_access_key=%s"),
		one("aws secret in env", "", rnd(40, b64), "AWS_SECRET_ACCESS_KEY: %s"),
	)
	for _, p := range []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"} {
		c = append(c, one("github "+p, p, p+rnd(36, alnum), "git push with token %s failed"))
	}
	c = append(c,
		one("github fine-grained pat", "github_pat_", "github_pat_"+rnd(22, alnum)+"_"+rnd(59, alnum), "GITHUB_TOKEN=%s"),
		one("gitlab pat", "glpat-", "glpat-"+rnd(20, alnum+"-_"), "clone with %s"),
		one("stripe secret key", "sk_live_", "sk_live_"+rnd(24, alnum), "stripe.api_key = '%s'"),
		one("stripe restricted key", "rk_live_", "rk_live_"+rnd(24, alnum), "charge failed for key %s"),
		one("stripe publishable key", "pk_live_", "pk_live_"+rnd(24, alnum), "init stripe %s"),
		one("slack bot token", "xoxb-", "xoxb-"+rnd(12, digits)+"-"+rnd(13, digits)+"-"+rnd(24, alnum), "slack auth with %s"),
		one("slack user token", "xoxp-", "xoxp-"+rnd(12, digits)+"-"+rnd(12, digits)+"-"+rnd(13, digits)+"-"+rnd(32, hexd), "token %s rejected"),
		one("slack app token", "xapp-", "xapp-1-A"+rnd(10, upper+digits)+"-"+rnd(13, digits)+"-"+rnd(64, hexd), "socket mode %s"),
		one("slack webhook", "hooks.slack.com", "T"+rnd(8, upper+digits)+"/B"+rnd(10, upper+digits)+"/"+rnd(24, alnum), "POST https://hooks.slack.com/services/%s 200"),
		one("google api key", "AIza", "AIza"+rnd(35, b64url), "maps key=%s"),
		one("npm token", "npm_", "npm_"+rnd(36, alnum), "//registry/:_authToken=%s"),
		one("npm token alone", "npm_", "npm_"+rnd(36, alnum), "publish using %s"),
		one("sendgrid key", "SG.", "SG."+rnd(22, b64url)+"."+rnd(43, b64url), "mail via %s"),
		one("twilio api key", "SK", "SK"+rnd(32, hexd), "twilio sid %s"),
		one("jwt", "eyJ", "eyJhbGciOiJIUzI1NiJ9.eyJ"+rnd(40, b64url)+"."+rnd(43, b64url), "session %s expired"),
		one("bearer header", "Bearer", rnd(32, b64url), "Authorization: Bearer %s"),
		one("basic header", "Basic", rnd(24, b64)+"==", `"Authorization": "Basic %s"`),
		one("bearer alone", "Bearer", rnd(40, b64url), "curl -H 'Bearer %s'"),
		one("pass=", "pass=", pw(), "login user=bob pass=%s ok"),
		one("pwd=", "pwd=", pw(), "GET /login?user=bob&pwd=%s HTTP/1.1"),
		one("passphrase=", "passphrase=", pw(), "unlock passphrase=%s"),
		one("auth=", "auth=", pw(), "redis auth=%s"),
		one("password json", "password", pw(), `{"user":"bob","password":"%s"}`),
		one("password yaml", "password", pw(), "  password: %s"),
		one("DB_PASSWORD env", "PASSWORD", pw(), "DB_PASSWORD=%s"),
		one("credential=", "credential", pw(), "credential=%s"),
		one("credentials:", "credentials", pw(), "credentials: %s"),
		one("secret=", "secret", pw(), "secret=%s"),
		one("client_secret", "client_secret", pw(), "oauth client_secret=%s&grant_type=x"),
		one("token=", "token", pw(), "?access_token=%s&state=1"),
		one("api_key", "api_key", pw(), "api_key: \"%s\""),
		one("x-api-key", "api-key", pw(), "X-Api-Key: %s"),
		one("access_key", "access_key", pw(), "access_key=%s"),
		one("percent-encoded password", "password", pw(), "POST body password%%3D%s%%26user%%3Dbob"),
		one("sql password literal", "PASSWORD", pw(), "ALTER ROLE app PASSWORD '%s'"),
	)
	// URL userinfo of any shape: '/', '@', ':' and percent-encoding inside.
	a, b, d, e := rnd(8, alnum), rnd(8, alnum), rnd(8, alnum), rnd(8, alnum)
	c = append(c,
		Item{Name: "url password with / @ :", Text: "connect postgres://app:" + a + "/" + b + "@" + d + ":" + e + "@db:5432/app failed",
			Secrets: []string{a + "/" + b + "@" + d + ":" + e, a, b, d, e}},
		one("url password", "", pw(), "redis://default:%s@cache:6379/0"),
		one("url password percent-encoded", "", rnd(6, alnum)+"%2F"+rnd(6, alnum)+"%40"+rnd(6, alnum), "amqp://u:%s@mq/"),
		one("url in a query, encoded", "", pw(), "GET /login?next=https%%3A%%2F%%2Fbob%%3A%s%%40example.org%%2F 302"),
		one("url token as user", "", rnd(40, hexd), "git clone https://%s@git.example.org/x.git"),
	)
	body := make([]string, 0, 26)
	for i := 0; i < 25; i++ {
		body = append(body, rnd(64, b64))
	}
	body = append(body, rnd(24, b64)+"==")
	c = append(c, Item{Name: "pem private key", MultiLine: true, Prefix: "MII",
		Text:    "loaded key -----BEGIN RSA PRIVATE KEY-----\nMIIEow" + strings.Join(body, "\n") + "\n-----END RSA PRIVATE KEY----- done",
		Secrets: body},
		Item{Name: "openssh private key", MultiLine: true,
			Text:    "-----BEGIN OPENSSH PRIVATE KEY-----\n" + strings.Join(body[:4], "\n") + "\n-----END OPENSSH PRIVATE KEY-----",
			Secrets: body[:4]})
	return c
}

// Secrets lists every secret of the corpus.
func Secrets(c []Item) []string {
	var out []string
	for _, it := range c {
		out = append(out, it.Secrets...)
	}
	return out
}

// Leaks returns the secrets of c that text shows.
func Leaks(text string, c []Item) []string {
	var out []string
	for _, s := range Secrets(c) {
		if strings.Contains(text, s) {
			out = append(out, s)
		}
	}
	return out
}
