package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/quagmt/udecimal"
	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/numfmt"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/strategy"
)

// exactArgs wants n positional arguments named as in use; a wrong count is
// bad usage (exit 2).
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("'%s' takes %s (got %d arguments)", cmd.CommandPath(), names, len(args))
		}
		return nil
	}
}

// noArgs refuses positional arguments as bad usage (exit 2).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("'%s' takes no arguments (got %q)", cmd.CommandPath(), args)
	}
	return nil
}

// requireServer refuses a command that acts on live sessions when no
// server is named.
func requireServer(g *globals, what string) error {
	if g.server == "" {
		return usagef("%s acts on a running server: set TRADEPLANE_SERVER or --server to its URL (start one with 'tradeplane serve')", what)
	}
	return nil
}

func newSessionsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "Create, list, start, stop and restart trading sessions",
		Long: `Sessions act on a running server: set TRADEPLANE_SERVER (or --server) and
TRADEPLANE_TOKEN (or --token; a trader token to change anything).`,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := g.setup(cmd); err != nil {
				return err
			}
			return requireServer(g, "'tradeplane sessions'")
		},
	}
	cmd.AddCommand(newSessionsListCmd(g), newSessionsShowCmd(g), newSessionsCreateCmd(g), newSessionsEditCmd(g), newSessionsDeleteCmd(g))
	for _, c := range server.SessionCommands {
		cmd.AddCommand(newSessionCommandCmd(g, c))
	}
	return cmd
}

func sessionPath(id string) string { return "/api/v1/sessions/" + url.PathEscape(id) }

// listSessions reads every page of GET /api/v1/sessions.
func listSessions(cmd *cobra.Command, g *globals, q url.Values) ([]server.SessionView, error) {
	return allPages[server.SessionView](cmd, g, "/api/v1/sessions", "sessions", q)
}

func newSessionsListCmd(g *globals) *cobra.Command {
	var tag, state, account string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List sessions with their state, PnL and restarts",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"tag": tag, "state": state, "account": account} {
				if v != "" {
					q.Set(k, v)
				}
			}
			ss, err := listSessions(cmd, g, q)
			if err != nil {
				return err
			}
			if asJSON {
				if ss == nil {
					ss = []server.SessionView{}
				}
				return writeJSONDoc(cmd.OutOrStdout(), ss)
			}
			return printSessions(cmd.OutOrStdout(), ss)
		},
	}
	f := cmd.Flags()
	f.StringVar(&tag, "tag", "", "only sessions with this tag")
	f.StringVar(&state, "state", "", "only sessions in this state (running, stopped, paused, backoff, failed)")
	f.StringVar(&account, "account", "", "only sessions on this account")
	f.BoolVar(&asJSON, "json", false, "print one JSON array")
	return cmd
}

func printSessions(w io.Writer, ss []server.SessionView) error {
	colour := colourOn(w)
	// Amounts are right-aligned so their decimal points line up.
	allocs, pnls := make([]string, len(ss)), make([]string, len(ss))
	for i, v := range ss {
		allocs[i], pnls[i] = allocationCell(v), numfmt.PnL(v.PnL)
	}
	allocs, pnls = padLeft(allocs, "ALLOCATION"), padLeft(pnls, "PNL")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\tNAME\tSTRATEGY\tACCOUNT\tSTATE\t%s\t%s\tRESTARTS\tLAST STEP\tUNKNOWN ORDERS\n", allocs[len(ss)], pnls[len(ss)])
	for i, v := range ss {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d auto, %d manual\t%s\t%s\n", v.ID, v.Name, v.Strategy, v.Account, v.State,
			allocs[i], numfmt.Colour(pnls[i], numfmt.Sign(v.PnL), colour), v.RestartsAuto, v.RestartsManual, timeOrDash(v.LastStepAt), unknownSummary(v.UnknownOrders))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(ss) == 0 {
		fmt.Fprintln(w, "no sessions")
	}
	return nil
}

// padLeft right-aligns cells and their header (returned last) to one
// width, for a tabwriter that aligns every column left.
func padLeft(cells []string, header string) []string {
	width := utf8.RuneCountInString(header)
	for _, c := range cells {
		width = max(width, utf8.RuneCountInString(c))
	}
	out := make([]string, 0, len(cells)+1)
	for _, c := range append(cells, header) {
		out = append(out, strings.Repeat(" ", width-utf8.RuneCountInString(c))+c)
	}
	return out
}

// allocationCell is a session's allocation for people: a fixed amount as
// money, a share as a percentage of collateral.
func allocationCell(v server.SessionView) string {
	if v.AllocationKind == server.AllocationShare {
		return numfmt.Trim(v.Allocation.Mul(udecimal.MustFromInt64(100, 0)), 2) + "% of collateral"
	}
	return numfmt.Money(v.Allocation) + " " + v.AllocationKind
}

// unknownSummary shows a session's orders with an unknown outcome: each
// order's symbol and age, "-" when there is none.
func unknownSummary(us []server.UnknownOrderView) string {
	if len(us) == 0 {
		return "-"
	}
	parts := make([]string, len(us))
	for i, u := range us {
		parts[i] = fmt.Sprintf("%s %s %s (%ds)", u.ClientOrderID, u.Symbol, u.Status, u.AgeSeconds)
	}
	return strings.Join(parts, ", ")
}

func timeOrDash(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func newSessionsShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one session in full",
		Args:  exactArgs(1, "a session ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v server.SessionView
			if err := apiGet(cmd, g, sessionPath(args[0]), &v); err != nil {
				return err
			}
			if asJSON {
				return writeJSONDoc(cmd.OutOrStdout(), v)
			}
			return printSession(cmd.OutOrStdout(), v)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printSession(w io.Writer, v server.SessionView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	state := v.State
	if v.StateReason != "" {
		state += " (" + v.StateReason + ")"
	}
	rows := [][2]string{
		{"id", v.ID}, {"name", v.Name}, {"strategy", v.Strategy}, {"account", v.Account},
		{"symbols", strings.Join(v.Symbols, ", ")}, {"tags", strings.Join(v.Tags, ", ")}, {"state", state},
		{"allocation", allocationCell(v)}, {"pnl", numfmt.Colour(numfmt.PnL(v.PnL), numfmt.Sign(v.PnL), colourOn(w))},
		{"last step", timeOrDash(v.LastStepAt)}, {"last error", v.LastError},
		{"restarts", fmt.Sprintf("%d auto, %d manual", v.RestartsAuto, v.RestartsManual)},
		{"updated", v.UpdatedAt.UTC().Format(time.RFC3339)}, {"params", string(v.Params)},
	}
	for _, r := range rows {
		if r[1] == "" {
			r[1] = "-"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

// paramsFlags are --params and --params-file.
type paramsFlags struct{ inline, file string }

func (p *paramsFlags) register(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&p.inline, "params", "", what+" as a JSON object, e.g. '{\"levels\":10}'")
	cmd.Flags().StringVar(&p.file, "params-file", "", "read the parameters from a JSON file")
}

// read returns the parameters as a JSON object, or nil when none were given.
func (p *paramsFlags) read() (json.RawMessage, error) {
	if p.inline != "" && p.file != "" {
		return nil, usagef("give --params or --params-file, not both")
	}
	raw, flag := []byte(p.inline), "--params"
	if p.file != "" {
		b, err := os.ReadFile(p.file)
		if err != nil {
			return nil, usagef("--params-file: %v", err)
		}
		raw, flag = b, "--params-file "+p.file
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, usagef("%s: want a JSON object such as '{\"levels\":10}'", flag)
	}
	out, _ := json.Marshal(obj)
	return out, nil
}

func newSessionsCreateCmd(g *globals) *cobra.Command {
	var (
		name, strategyName, account, allocation, kind string
		symbols, tags                                 []string
		start, asJSON                                 bool
		params                                        paramsFlags
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a session",
		Example: `  tradeplane sessions create --name btc-dca --strategy dca --account main --symbol BTCUSDT \
      --params '{"every":"1h","amount":"50"}' --allocation 1000 --tag desk-a --start
  tradeplane sessions create --strategy rebalance --account main --symbol BTCUSDT --symbol ETHUSDT \
      --params-file rebalance.json --allocation 0.25 --allocation-kind share`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if names := strategy.Names(); !slices.Contains(names, strategyName) {
				return usagef("--strategy %q: want one of %s", strategyName, strings.Join(names, ", "))
			}
			if account == "" {
				return usagef("--account is required")
			}
			if len(symbols) == 0 {
				return usagef("name at least one --symbol, e.g. --symbol BTCUSDT")
			}
			if kind != server.AllocationFixed && kind != server.AllocationShare {
				return usagef("--allocation-kind %q: want fixed or share", kind)
			}
			if allocation == "" {
				return usagef("--allocation is required (a quote amount, or a share from 0 to 1 with --allocation-kind share)")
			}
			if d, err := udecimal.Parse(allocation); err != nil || d.Sign() <= 0 {
				return usagef("--allocation %q: want a positive decimal", allocation)
			}
			p, err := params.read()
			if err != nil {
				return err
			}
			if p == nil {
				p = json.RawMessage("{}")
			}
			body := map[string]any{"name": name, "strategy": strategyName, "account": account, "symbols": symbols, "params": p,
				"allocation_kind": kind, "allocation": allocation, "tags": nonNilTags(tags), "start": start}
			var v server.SessionView
			if err := apiDo(cmd, g, http.MethodPost, "/api/v1/sessions", body, &v); err != nil {
				return err
			}
			for _, w := range v.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w)
			}
			if asJSON {
				return writeJSONDoc(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "session %s (%s) created: %s\n", v.ID, v.Name, v.State)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "display name (default: picked by the server)")
	f.StringVar(&strategyName, "strategy", "", "strategy: "+strings.Join(strategy.Names(), ", "))
	f.StringVar(&account, "account", "", "account the session trades on")
	f.StringSliceVar(&symbols, "symbol", nil, "symbol to trade, e.g. BTCUSDT (repeat or comma-separate)")
	params.register(cmd, "strategy parameters")
	f.StringVar(&allocation, "allocation", "", "capital the session may use: a quote amount (fixed) or a share of collateral (share)")
	f.StringVar(&kind, "allocation-kind", server.AllocationFixed, "fixed or share")
	f.StringSliceVar(&tags, "tag", nil, "tag for bulk actions (repeat or comma-separate)")
	f.BoolVar(&start, "start", false, "start the session once created")
	f.BoolVar(&asJSON, "json", false, "print the created session as JSON")
	return cmd
}

func newSessionCommandCmd(g *globals, c server.SessionCommand) *cobra.Command {
	short := map[server.SessionCommand]string{
		server.CommandStart: "Start a session", server.CommandStop: "Stop a session", server.CommandRestart: "Restart a session",
		server.CommandPause: "Pause a session", server.CommandResume: "Resume a paused session", server.CommandTrade: "Run one trade step of a session now",
	}[c]
	var asJSON bool
	cmd := &cobra.Command{
		Use:   string(c) + " ID",
		Short: short,
		Args:  exactArgs(1, "a session ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v server.SessionView
			if err := apiDo(cmd, g, http.MethodPost, sessionPath(args[0])+"/"+string(c), nil, &v); err != nil {
				return fmt.Errorf("%s session %s: %w", c, args[0], err)
			}
			if asJSON {
				return writeJSONDoc(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "session %s: %s\n", v.ID, v.State)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the session as JSON")
	return cmd
}

func newSessionsEditCmd(g *globals) *cobra.Command {
	var params paramsFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "edit ID",
		Short:   "Change a session's strategy parameters (merged into the current ones)",
		Example: `  tradeplane sessions edit s-0001 --params '{"levels":12}'`,
		Args:    exactArgs(1, "a session ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := params.read()
			if err != nil {
				return err
			}
			if p == nil {
				return usagef("give the parameters to change with --params or --params-file")
			}
			var v server.SessionView
			if err := apiDo(cmd, g, http.MethodPatch, sessionPath(args[0])+"/params", p, &v); err != nil {
				return fmt.Errorf("edit session %s: %w", args[0], err)
			}
			if asJSON {
				return writeJSONDoc(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "session %s params: %s\n", v.ID, v.Params)
			return nil
		},
	}
	params.register(cmd, "parameters to change")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the session as JSON")
	return cmd
}

func newSessionsDeleteCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a session (its journal stays); a running one only with --force",
		Args:  exactArgs(1, "a session ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := sessionPath(args[0]) + "?force=" + strconv.FormatBool(force)
			if err := apiDo(cmd, g, http.MethodDelete, path, nil, nil); err != nil {
				return fmt.Errorf("delete session %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "session %s deleted\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "stop the session first if it is running or paused")
	return cmd
}

// writeJSONDoc prints v as one JSON document.
func writeJSONDoc(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
