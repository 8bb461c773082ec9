package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/quagmt/udecimal"
	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/marketdata"
	"github.com/tradeplane/tradeplane/internal/replay"
)

// replayBenchResult is one scenario of `bench replay`.
type replayBenchResult struct {
	Scenario   string  `json:"scenario"`
	Sessions   int     `json:"sessions"`
	Bars       int64   `json:"bars"`
	Steps      int64   `json:"steps"`
	Trades     int     `json:"trades"`
	WallS      float64 `json:"wall_s"`
	CPUS       float64 `json:"cpu_s"` // user + system time of the process
	BarsPerS   float64 `json:"bars_per_s"`
	BarsPerCPU float64 `json:"bars_per_cpu_s"`
	StepsPerS  float64 `json:"steps_per_s"`
}

func (r replayBenchResult) String() string {
	return fmt.Sprintf("%-10s sessions %-4d bars %-7d steps %-6d trades %-6d wall %7.2fs cpu %7.2fs  %9.0f bars/s  %9.0f bars/cpu-s  %7.0f steps/s",
		r.Scenario, r.Sessions, r.Bars, r.Steps, r.Trades, r.WallS, r.CPUS, r.BarsPerS, r.BarsPerCPU, r.StepsPerS)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func newBenchReplayCmd() *cobra.Command {
	var (
		klines, scenario string
		cpuProfile       string
		sessions, days   int
		asJSON           bool
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Replay throughput: a year of 1 m bars with one DCA session, and a desk of sessions over 30 days",
		Long: `Runs replay.Run through the live session path (strategies, supervisor step,
journal executor with allocation checks, in-memory SQLite store, paper venue).
The bars are the --klines file (1 m BTCUSDT) played forward and backward in
turn (prices stay continuous) until there are enough: 525,600 for "year",
--days x 1,440 for "desk". "bars" runs the year with a session that never
comes due: the bar loop alone. Record the output with its command in
docs/BENCHMARKS.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := marketdata.ReadKlinesFile(klines)
			if err != nil {
				return usagef("--klines: %v", err)
			}
			if len(ks) == 0 {
				return usagef("--klines %s: no klines", klines)
			}
			var runs []string
			switch scenario {
			case "all":
				runs = []string{"bars", "year", "desk"}
			case "bars", "year", "desk":
				runs = []string{scenario}
			default:
				return usagef("--scenario %q: want bars, year, desk or all", scenario)
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return usagef("--cpuprofile: %v", err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer func() {
					pprof.StopCPUProfile()
					if err := f.Close(); err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "--cpuprofile %s: %v\n", cpuProfile, err)
					}
				}()
			}
			var out []replayBenchResult
			for _, sc := range runs {
				n, count, interval := 525600, 1, "1h"
				switch sc {
				case "desk":
					n, count = days*1440, sessions
				case "bars":
					interval = "9000h"
				}
				cfg := replay.Config{
					Accounts: []replay.Account{{Name: "bench", Balances: []replay.Balance{{Asset: "USDT", Amount: udecimal.MustParse("1000000000")}}}},
					Sources:  []replay.Source{{Symbol: "BTCUSDT", Interval: time.Minute, Stream: replay.Mirror(ks, n, ks[0].OpenTime, time.Minute), Name: klines}},
					Fill:     replay.Fill{Slippage: udecimal.MustParse("0.0005")},
					Seed:     1,
				}
				for i := range count {
					cfg.Sessions = append(cfg.Sessions, replay.Session{Name: fmt.Sprintf("dca-%03d", i), Strategy: "dca", Account: "bench",
						Symbols: []string{"BTCUSDT"}, Params: json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"25","interval":"` + interval + `"}`)})
				}
				bar := newProgressBar("bench replay " + sc)
				cfg.Progress = func(p replay.Progress) { bar.update(p.Bars, int64(n), "") }
				cpu0, t0 := cpuSeconds(), time.Now()
				res, err := replay.Run(cmd.Context(), cfg)
				wall, cpu := time.Since(t0).Seconds(), cpuSeconds()-cpu0
				bar.finish()
				if err != nil {
					return err
				}
				r := replayBenchResult{Scenario: sc, Sessions: count, Bars: res.Summary.Bars, Steps: res.Summary.Steps, Trades: res.Summary.Trades,
					WallS: wall, CPUS: cpu, BarsPerS: float64(res.Summary.Bars) / wall, StepsPerS: float64(res.Summary.Steps) / wall}
				if cpu > 0 {
					r.BarsPerCPU = float64(res.Summary.Bars) / cpu
				}
				out = append(out, r)
				if !asJSON {
					fmt.Fprintln(cmd.OutOrStdout(), r.String())
				}
			}
			if asJSON {
				return writeJSONDoc(cmd.OutOrStdout(), out)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&klines, "klines", "../shared/data/BTCUSDT-1m.csv", "1 m BTCUSDT klines to synthesize the bars from")
	f.StringVar(&scenario, "scenario", "all", "bars, year, desk or all")
	f.IntVar(&sessions, "sessions", 100, "sessions of the desk scenario")
	f.IntVar(&days, "days", 30, "days of the desk scenario")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the scenarios to this file (go tool pprof -top BINARY FILE)")
	return cmd
}
