//go:build !unix

package pnl

import "time"

// processCPU is unavailable here; benchmarks then report no cpu-ns/fill.
func processCPU() time.Duration { return 0 }
