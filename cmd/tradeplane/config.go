package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// A config file is YAML: one mapping whose keys are flag names (of serve
// and the global flags) and whose values are what the flag takes; a
// repeatable flag takes a list. Flags beat environment variables, which
// beat the file, which beats the defaults:
//
//	addr: 0.0.0.0:8080
//	db: postgres://tradeplane@db.internal:5432/tradeplane
//	lease-ttl: 15s
//	heartbeat-url: https://hc-ping.com/UUID
//	alert-webhook: [https://hooks.example.com/a, https://hooks.example.com/b]

// configSetting is one key of a config file.
type configSetting struct {
	key    string
	values []string
	line   int
}

// configFile is a parsed config file.
type configFile struct {
	path     string
	settings []configSetting
}

// configError is a config file problem: it names the file, the line and
// the key, and exits 2.
type configError struct{ msg string }

func (e configError) Error() string  { return e.msg }
func (e configError) BadInput() bool { return true }

func configErrorf(format string, args ...any) error {
	return configError{fmt.Sprintf(format, args...)}
}

// registerConfigFlag adds --config to root, landing in p.
func registerConfigFlag(root *cobra.Command, p *string) {
	root.PersistentFlags().StringVar(p, "config", os.Getenv("TRADEPLANE_CONFIG"), "YAML config file whose keys are flag names (flags and env win over it); check it with 'tradeplane config check' (env TRADEPLANE_CONFIG)")
}

// applyConfigPath loads the config file at path (none when "") and applies
// it to cmd's flags.
func applyConfigPath(cmd *cobra.Command, path string) (configSources, error) {
	if path == "" {
		return configSources{}, nil
	}
	cf, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	return applyConfig(cmd, cf)
}

// loadConfig reads and parses a config file.
func loadConfig(path string) (*configFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, configErrorf("--config %s: %v", path, errors.Unwrap(err))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, configErrorf("config %s: not valid YAML: %v", path, err)
	}
	cf := &configFile{path: path}
	if len(doc.Content) == 0 {
		return cf, nil // empty file
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, configErrorf("config %s line %d: want a mapping of setting: value (e.g. addr: 0.0.0.0:8080)", path, m.Line)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := k.Value
		if prev, dup := seen[key]; dup {
			return nil, configErrorf("config %s line %d: %s is set twice (first on line %d)", path, k.Line, key, prev)
		}
		seen[key] = k.Line
		s := configSetting{key: key, line: k.Line}
		switch v.Kind {
		case yaml.ScalarNode:
			s.values = []string{v.Value}
		case yaml.SequenceNode:
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					return nil, configErrorf("config %s line %d: %s: list items must be plain values", path, item.Line, key)
				}
				s.values = append(s.values, item.Value)
			}
		default:
			return nil, configErrorf("config %s line %d: %s: want a value or a list of values", path, v.Line, key)
		}
		cf.settings = append(cf.settings, s)
	}
	return cf, nil
}

// envNameOf is the environment variable of a flag, by the convention
// every flag follows: TRADEPLANE_ and the name in upper case with _.
func envNameOf(flag string) string {
	return "TRADEPLANE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// configSources records where each applied setting came from.
type configSources map[string]string

// applyConfig sets cmd's flags from cf where neither the command line nor
// the environment set them. A key that is a flag of another command (a
// serve setting while running 'balances') is left alone; a key that is no
// flag anywhere is an error.
func applyConfig(cmd *cobra.Command, cf *configFile) (configSources, error) {
	src := configSources{}
	if cf == nil {
		return src, nil
	}
	known := allFlagNames(cmd.Root())
	for _, s := range cf.settings {
		f := cmd.Flags().Lookup(s.key)
		if f == nil {
			if !known[s.key] || s.key == "config" {
				return nil, configErrorf("config %s line %d: unknown setting %q; settings are flag names such as addr, db, lease-ttl (see tradeplane serve --help)", cf.path, s.line, s.key)
			}
			continue
		}
		if f.Changed {
			continue // the command line wins
		}
		if os.Getenv(envNameOf(s.key)) != "" {
			continue // the environment wins
		}
		if len(s.values) > 1 && !isRepeatable(f) {
			return nil, configErrorf("config %s line %d: %s takes one value, not a list", cf.path, s.line, s.key)
		}
		for _, v := range s.values {
			if err := f.Value.Set(v); err != nil {
				return nil, configErrorf("config %s line %d: %s: %q is not valid: %v", cf.path, s.line, s.key, v, err)
			}
		}
		f.Changed = true
		src[s.key] = "file"
	}
	return src, nil
}

func isRepeatable(f *pflag.Flag) bool {
	t := f.Value.Type()
	return strings.HasSuffix(t, "Array") || strings.HasSuffix(t, "Slice")
}

func allFlagNames(root *cobra.Command) map[string]bool {
	names := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	return names
}

// secretFlags are shown masked by config check.
var secretFlags = map[string]bool{"token": true}

// urlFlags may carry a secret in their password, path or query (a
// Healthchecks UUID, a webhook token): config check shows scheme and host.
var urlFlags = map[string]bool{"db": true, "heartbeat-url": true, "alert-webhook": true, "server": false}

func maskValue(name, v string) string {
	if v == "" || v == "[]" {
		return v
	}
	if secretFlags[name] {
		return "**** (set)"
	}
	if !urlFlags[name] {
		return v
	}
	mask := func(raw string) string {
		if strings.HasPrefix(raw, "sqlite:") {
			return raw
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return "**** (unparsable URL)"
		}
		out := u.Scheme + "://"
		if u.User != nil {
			out += u.User.Username()
			if _, ok := u.User.Password(); ok {
				out += ":****"
			}
			out += "@"
		}
		out += u.Host
		if name == "db" {
			out += u.Path // the database name is no secret
			if u.RawQuery != "" {
				out += "?****"
			}
		} else if u.Path != "" && u.Path != "/" {
			out += "/****"
		}
		return out
	}
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		var items []string
		for _, it := range strings.Split(strings.Trim(v, "[]"), ",") {
			items = append(items, mask(strings.TrimSpace(it)))
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return mask(v)
}

func newConfigCmd(g *globals, configPath *string, globalSources func() configSources) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check a config file and show the effective settings"}
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate --config FILE and print the settings serve would run with (secrets masked)",
		Long: `Validate the config file named by --config (or TRADEPLANE_CONFIG) and print every
setting 'tradeplane serve' would run with and where it comes from: flag, env,
file or default. Passwords, tokens and secret URL parts are masked. Exits 2,
naming the line and the setting, when the file or a value is wrong.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// serve's flags as serve would see them: env defaults, then the file.
			serve := newServeCmd(g)
			cmd.Root().AddCommand(serve) // inherit the global flags for lookups
			defer cmd.Root().RemoveCommand(serve)
			if err := serve.ParseFlags(nil); err != nil {
				return err
			}
			var cf *configFile
			if *configPath != "" {
				var err error
				if cf, err = loadConfig(*configPath); err != nil {
					return err
				}
			}
			src, err := applyConfig(serve, cf)
			if err != nil {
				return err
			}
			if err := validateServeFlags(serve); err != nil {
				return err
			}
			globalSrc := globalSources()
			out := cmd.OutOrStdout()
			if cf != nil {
				fmt.Fprintf(out, "config %s: ok (%d settings)\n", cf.path, len(cf.settings))
			} else {
				fmt.Fprintln(out, "no config file (give --config FILE or set TRADEPLANE_CONFIG); flags, environment and defaults:")
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SETTING\tVALUE\tFROM")
			type row struct{ name, value, from string }
			var rows []row
			seen := map[string]bool{}
			add := func(f *pflag.Flag, fromFile configSources, parentChanged bool) {
				if seen[f.Name] || f.Hidden || f.Name == "help" || f.Name == "config" {
					return
				}
				seen[f.Name] = true
				from := "default"
				switch {
				case fromFile[f.Name] == "file":
					from = "file"
				case parentChanged:
					from = "flag"
				case os.Getenv(envNameOf(f.Name)) != "":
					from = "env " + envNameOf(f.Name)
				}
				rows = append(rows, row{f.Name, maskValue(f.Name, f.Value.String()), from})
			}
			serve.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) { add(f, src, false) })
			cmd.Root().PersistentFlags().VisitAll(func(f *pflag.Flag) {
				add(f, globalSrc, f.Changed && globalSrc[f.Name] != "file")
			})
			sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.name, r.value, r.from)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(check)
	return cmd
}

// validateServeFlags runs the checks serve runs on its flags before it
// opens anything.
func validateServeFlags(serve *cobra.Command) error {
	f := serve.Flags()
	addr, _ := f.GetString("addr")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return usagef("addr %q: want host:port, e.g. 127.0.0.1:8080", addr)
	}
	cur, _ := f.GetString("currency")
	if !currencyPattern.MatchString(strings.ToUpper(strings.TrimSpace(cur))) {
		return usagef("currency %q: want an asset code such as USDT, USDC or USD", cur)
	}
	cert, _ := f.GetString("tls-cert")
	key, _ := f.GetString("tls-key")
	if (cert == "") != (key == "") {
		return usagef("tls-cert and tls-key go together: give both or neither")
	}
	if ttl, _ := f.GetDuration("lease-ttl"); ttl <= 0 {
		return usagef("lease-ttl %s: want a positive duration such as 15s", ttl)
	}
	hooks, _ := f.GetStringArray("alert-webhook")
	tokFile, _ := f.GetString("alert-telegram-token-file")
	chat, _ := f.GetString("alert-telegram-chat")
	if _, _, err := alertSinks(alertOptions{webhooks: hooks, telegramTokenFile: tokFile, telegramChat: chat}); err != nil {
		return err
	}
	var wd watchdogOptions
	wd.heartbeatURL, _ = f.GetString("heartbeat-url")
	wd.heartbeatEvery, _ = f.GetDuration("heartbeat-interval")
	wd.checkEvery, _ = f.GetDuration("health-interval")
	return wd.check()
}
