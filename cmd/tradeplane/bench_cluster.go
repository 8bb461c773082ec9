package main

import "github.com/spf13/cobra"

func newBenchClusterCmd(g *globals) *cobra.Command {
	return pendingCmd("cluster", "Sessions per node and failover time of several nodes on PostgreSQL")
}
