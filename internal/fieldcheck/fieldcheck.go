// Package fieldcheck holds the limits on what users may store: names,
// tags, symbols, amounts and account specifications. The API and the
// command line call the same checks, so neither accepts what the other
// refuses; every refusal is an *Error naming the field and saying what is
// allowed. It knows no HTTP, SQL or venue wire format.
package fieldcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Limits.
const (
	// MaxNameLen is the longest account or session name, in characters.
	MaxNameLen = 64
	// MaxTagLen is the longest tag.
	MaxTagLen = 64
	// MaxTags is the most tags one account or session carries.
	MaxTags = 32
	// MaxSymbols is the most symbols one session trades.
	MaxSymbols = 32
	// MaxURLLen is the longest venue base URL.
	MaxURLLen = 256
	// MaxKeyLen is the longest API key (Binance's are 64 characters).
	MaxKeyLen = 256
	// MaxSecretLen is the longest API secret.
	MaxSecretLen = 512
)

// MaxAmount is the largest allocation or price a user may give: 10^15,
// far above any desk and far below where decimal arithmetic overflows.
var MaxAmount = udecimal.MustParse("1000000000000000")

// ErrInvalid is what every *Error matches with errors.Is.
var ErrInvalid = errors.New("invalid field")

// Error is a refused field: Field names it as the user gave it (a JSON
// field or a flag), Reason says what is allowed.
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string { return e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func bad(field, format string, args ...any) error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

var accountNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// AccountName allows 1..MaxNameLen ASCII letters, digits, '.', '_' and
// '-', starting with a letter or digit: it appears in URLs, scopes
// ("account:NAME") and file names.
func AccountName(field, v string) error {
	switch {
	case v == "":
		return bad(field, "is required")
	case len(v) > MaxNameLen:
		return bad(field, "is %d bytes long; at most %d characters", len(v), MaxNameLen)
	case !accountNameRE.MatchString(v):
		return bad(field, "%q: use only ASCII letters, digits, '.', '_' and '-', starting with a letter or digit", clip(v))
	}
	return nil
}

// Name allows 1..MaxNameLen printable characters without control or
// formatting characters (session names are shown, never parsed).
func Name(field, v string) error {
	if v == "" {
		return bad(field, "is required")
	}
	return text(field, v, MaxNameLen)
}

// text checks a free text of at most max characters.
func text(field, v string, max int) error {
	if !utf8.ValidString(v) {
		return bad(field, "is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(v); n > max {
		return bad(field, "is %d characters long; at most %d", n, max)
	}
	for _, r := range v {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return bad(field, "contains a control or formatting character (%U)", r)
		}
	}
	return nil
}

var tagRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]*$`)

// Tags allows at most MaxTags tags of 1..MaxTagLen ASCII letters, digits,
// '.', '_', ':', '/' and '-'. field names the list ("tags", "--tag").
func Tags(field string, tags []string) error {
	if len(tags) > MaxTags {
		return bad(field, "has %d tags; at most %d", len(tags), MaxTags)
	}
	for i, t := range tags {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case t == "":
			return bad(f, "is empty")
		case len(t) > MaxTagLen:
			return bad(f, "is %d bytes long; at most %d characters", len(t), MaxTagLen)
		case !tagRE.MatchString(t):
			return bad(f, "%q: use only ASCII letters, digits, '.', '_', ':', '/' and '-'", clip(t))
		}
	}
	return nil
}

var symbolRE = regexp.MustCompile(`^[A-Z0-9]{2,20}$`)

// Symbols allows 1..MaxSymbols symbols of 2..20 ASCII capitals and
// digits (BTCUSDT; full-width or lower-case look-alikes are refused). Only
// the venue knows which exist: check them against its list as well.
func Symbols(field string, syms []string) error {
	if len(syms) > MaxSymbols {
		return bad(field, "has %d symbols; at most %d", len(syms), MaxSymbols)
	}
	for i, s := range syms {
		if !symbolRE.MatchString(s) {
			return bad(fmt.Sprintf("%s[%d]", field, i), "%q: want a venue symbol such as BTCUSDT (2 to 20 ASCII capitals and digits)", clip(s))
		}
	}
	return nil
}

// Amount allows a positive decimal of at most MaxAmount.
func Amount(field string, d udecimal.Decimal) error {
	if d.Sign() <= 0 {
		return bad(field, "%s must be positive", d)
	}
	if d.GreaterThan(MaxAmount) {
		return bad(field, "%s is over the limit of %s", d, MaxAmount)
	}
	return nil
}

// Account is an account to add as the API and the CLI take it.
type Account struct {
	Name      string
	Venue     string
	BaseURL   string
	APIKey    string
	APISecret string
	Tags      []string
	// A Binance sub-account: the master account's name and the
	// sub-account's email. Without a key of its own it is read through
	// the master's.
	Master          string
	SubAccountEmail string
	// A binance-futures account's own leverage (1 to 125) and margin type
	// ("cross", "isolated") per symbol.
	FuturesLeverage   map[string]int
	FuturesMarginType map[string]string
}

// AccountFields names the fields of Account for messages: the API's JSON
// names or the CLI's flags.
type AccountFields struct {
	Name, Venue, BaseURL, APIKey, APISecret, Tags, Master, SubAccountEmail string
	FuturesLeverage, FuturesMarginType                                     string
}

// JSONFields are the API's field names.
var JSONFields = AccountFields{Name: "name", Venue: "venue", BaseURL: "base_url", APIKey: "api_key", APISecret: "api_secret", Tags: "tags",
	Master: "master", SubAccountEmail: "sub_account_email", FuturesLeverage: "futures_leverage", FuturesMarginType: "futures_margin_type"}

// FlagFields are the CLI's flags.
var FlagFields = AccountFields{Name: "--name", Venue: "--venue", BaseURL: "--base-url", APIKey: "--api-key", APISecret: "--api-secret-file", Tags: "--tag",
	Master: "--master", SubAccountEmail: "--sub-account", FuturesLeverage: "--futures-leverage", FuturesMarginType: "--futures-margin-type"}

// MaxEmailLen is the longest sub-account email (RFC 5321's path limit).
const MaxEmailLen = 254

// SubAccount checks a Binance sub-account's master name and email: both or
// neither, a binance venue, an email with one "@" and no spaces.
func SubAccount(f AccountFields, venue, master, email string) error {
	if master == "" && email == "" {
		return nil
	}
	if venue != "binance" {
		return bad(f.SubAccountEmail, "sub-accounts are Binance's; the venue is %q", clip(venue))
	}
	if master == "" || email == "" {
		return bad(f.SubAccountEmail, "a sub-account needs both %s (its master account) and %s (its email)", f.Master, f.SubAccountEmail)
	}
	if err := AccountName(f.Master, master); err != nil {
		return err
	}
	local, domain, ok := strings.Cut(email, "@")
	if len(email) > MaxEmailLen || !ok || local == "" || domain == "" || strings.Contains(domain, "@") ||
		strings.ContainsFunc(email, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return bad(f.SubAccountEmail, "%q: want an email such as trader1@example.com (at most %d printable ASCII characters)", clip(email), MaxEmailLen)
	}
	return nil
}

// CheckAccount is the one validation of a new account: a valid name, a
// venue of the venue registry, an http(s) base URL with a host and no
// credentials in it, and both an API key and a secret when the venue's
// Kind needs credentials (a Binance sub-account may have neither: it is
// read through its master). Whether the venue client can be opened with it
// is the caller's second check.
func CheckAccount(a Account, f AccountFields) error {
	if err := AccountName(f.Name, a.Name); err != nil {
		return err
	}
	kind, err := venue.Lookup(a.Venue)
	if err != nil {
		return bad(f.Venue, "%q: want %s", clip(a.Venue), venue.NamesText())
	}
	if a.BaseURL != "" {
		if len(a.BaseURL) > MaxURLLen {
			return bad(f.BaseURL, "is %d bytes long; at most %d", len(a.BaseURL), MaxURLLen)
		}
		u, err := url.Parse(a.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(a.BaseURL, " \t\r\n") {
			return bad(f.BaseURL, "%q: want an http(s) URL with a host and no user, query or fragment, such as https://testnet.binance.vision", clip(a.BaseURL))
		}
	}
	if len(a.APIKey) > MaxKeyLen {
		return bad(f.APIKey, "is %d bytes long; at most %d", len(a.APIKey), MaxKeyLen)
	}
	if len(a.APISecret) > MaxSecretLen {
		return bad(f.APISecret, "is %d bytes long; at most %d", len(a.APISecret), MaxSecretLen)
	}
	if strings.ContainsFunc(a.APIKey, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return bad(f.APIKey, "contains a character that is not printable ASCII")
	}
	if err := SubAccount(f, a.Venue, a.Master, a.SubAccountEmail); err != nil {
		return err
	}
	// A sub-account may have no key (read through its master's); half a
	// key is always wrong.
	keyless := a.SubAccountEmail != "" && a.APIKey == "" && a.APISecret == ""
	if kind.Credentials && !keyless && (a.APIKey == "" || a.APISecret == "") {
		return bad(f.APIKey, "a %s account needs both %s and %s", a.Venue, f.APIKey, f.APISecret)
	}
	if err := FuturesSettings(f, a.Venue, a.FuturesLeverage, a.FuturesMarginType); err != nil {
		return err
	}
	return Tags(f.Tags, a.Tags)
}

// FuturesVenue is the one venue whose accounts take leverage and margin
// type per symbol.
const FuturesVenue = "binance-futures"

// FuturesSettings allows leverage (1 to 125, Binance's range) and margin
// type ("cross" or "isolated") per symbol, for at most MaxSymbols symbols
// each, on a binance-futures account only.
func FuturesSettings(f AccountFields, venueName string, lev map[string]int, mt map[string]string) error {
	if (len(lev) > 0 || len(mt) > 0) && venueName != FuturesVenue {
		field := f.FuturesLeverage
		if len(lev) == 0 {
			field = f.FuturesMarginType
		}
		return bad(field, "only a %s account sets leverage and margin type per symbol, not a %s one", FuturesVenue, clip(venueName))
	}
	if len(lev) > MaxSymbols {
		return bad(f.FuturesLeverage, "has %d symbols; at most %d", len(lev), MaxSymbols)
	}
	if len(mt) > MaxSymbols {
		return bad(f.FuturesMarginType, "has %d symbols; at most %d", len(mt), MaxSymbols)
	}
	for sym, l := range lev {
		if !symbolRE.MatchString(sym) {
			return bad(f.FuturesLeverage, "symbol %q: want a venue symbol such as BTCUSDT (2 to 20 ASCII capitals and digits)", clip(sym))
		}
		if l < 1 || l > 125 {
			return bad(f.FuturesLeverage, "%s: leverage %d; Binance takes 1 to 125", sym, l)
		}
	}
	for sym, m := range mt {
		if !symbolRE.MatchString(sym) {
			return bad(f.FuturesMarginType, "symbol %q: want a venue symbol such as BTCUSDT (2 to 20 ASCII capitals and digits)", clip(sym))
		}
		if venue.MarginMode(m) != venue.MarginCross && venue.MarginMode(m) != venue.MarginIsolated {
			return bad(f.FuturesMarginType, "%s: %q; want cross or isolated", sym, clip(m))
		}
	}
	return nil
}

// clip shortens a user's value for a message.
func clip(v string) string {
	if len(v) <= 40 {
		return v
	}
	i := 40
	for i > 0 && !utf8.RuneStart(v[i]) {
		i--
	}
	return v[:i] + "…"
}

// MaxParamsBytes is the largest strategy parameter object.
const MaxParamsBytes = 16 << 10

// Params checks a strategy parameter object before its strategy does:
// at most MaxParamsBytes, and every number in it (a JSON number, or a
// string that reads as a decimal, as prices and quantities are sent) is
// neither negative nor over MaxAmount; strings are at most 256 characters.
// field is the object's name ("params"); a refusal names the member, e.g.
// params.lower.
func Params(field string, raw []byte) error {
	if len(raw) > MaxParamsBytes {
		return bad(field, "is %d bytes; at most %d", len(raw), MaxParamsBytes)
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return bad(field, "is not valid JSON")
	}
	if _, ok := v.(map[string]any); !ok {
		return bad(field, "must be a JSON object")
	}
	return walkParams(field, v, 0)
}

func walkParams(path string, v any, depth int) error {
	if depth > 8 {
		return bad(path, "is nested too deeply")
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if err := walkParams(path+"."+k, e, depth+1); err != nil {
				return err
			}
		}
	case []any:
		if len(x) > 1000 {
			return bad(path, "has %d items; at most 1000", len(x))
		}
		for i, e := range x {
			if err := walkParams(fmt.Sprintf("%s[%d]", path, i), e, depth+1); err != nil {
				return err
			}
		}
	case json.Number:
		return paramNumber(path, string(x))
	case string:
		if utf8.RuneCountInString(x) > 256 {
			return bad(path, "is longer than 256 characters")
		}
		if d, err := udecimal.Parse(x); err == nil {
			return paramNumber(path, d.String())
		}
	}
	return nil
}

func paramNumber(path, s string) error {
	d, err := udecimal.Parse(s)
	if err != nil {
		// Too many digits for a decimal: an exponent form like 1e41.
		return bad(path, "%s is not a number this desk accepts (at most %s, no exponents)", clip(s), MaxAmount)
	}
	if d.Sign() < 0 {
		return bad(path, "%s must not be negative", d)
	}
	if d.GreaterThan(MaxAmount) {
		return bad(path, "%s is over the limit of %s", d, MaxAmount)
	}
	return nil
}
