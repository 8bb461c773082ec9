package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/store"
)

// jobView is a job as `jobs show|cancel --json` print it (the API's shape).
type jobView struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	State   string `json:"state"`
	Done    int64  `json:"done"`
	Total   int64  `json:"total"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
	Owner   string `json:"owner,omitempty"`
}

func newJobsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "jobs", Short: "Show or cancel background jobs (backfills and other long jobs)"}
	var asJSON bool
	print := func(cmd *cobra.Command, j jobView) error {
		if asJSON {
			return json.NewEncoder(cmd.OutOrStdout()).Encode(j)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s  %s  %s  %d/%d  %s\n", j.ID, j.Kind, j.State, j.Done, j.Total, j.Message)
		return nil
	}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a job's state and progress",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.server != "" {
				var j jobView
				if err := apiGet(cmd, g, "/api/v1/jobs/"+url.PathEscape(args[0]), &j); err != nil {
					return err
				}
				return print(cmd, j)
			}
			db, err := openExistingDB(cmd, g)
			if err != nil {
				return err
			}
			defer db.Close()
			j, err := db.Job(cmd.Context(), args[0])
			if errors.Is(err, store.ErrNotFound) {
				return usagef("no job %q", args[0])
			}
			if err != nil {
				return err
			}
			return print(cmd, viewOf(j))
		},
	}
	cancel := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a queued or running job; the node running it stops it and no node resumes it",
		Long: `Cancel a queued or running job of any kind (backfill, replay, ...). The job's
row ends "canceled" at once; the node running it stops it (at once when it is
the server you ask, else on that node's next progress write) and no node
resumes it. Without --server the row is canceled straight in the database.
A job that has ended already is an error (exit 1).`,
		Example: `  tradeplane jobs cancel bf_0123456789abcdef`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.server != "" {
				var j jobView
				if err := apiDo(cmd, g, "POST", "/api/v1/jobs/"+url.PathEscape(args[0])+"/cancel", nil, &j); err != nil {
					return err
				}
				return print(cmd, j)
			}
			db, err := openExistingDB(cmd, g)
			if err != nil {
				return err
			}
			defer db.Close()
			j, err := db.CancelJob(cmd.Context(), args[0], "canceled from the command line", time.Now().UTC())
			if errors.Is(err, store.ErrNotFound) {
				return usagef("no job %q", args[0])
			}
			if err != nil {
				return err
			}
			return print(cmd, viewOf(j))
		},
	}
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print the job as JSON")
	cmd.AddCommand(show, cancel)
	return cmd
}

func viewOf(j store.Job) jobView {
	return jobView{ID: j.ID, Kind: j.Kind, State: j.State, Done: j.Done, Total: j.Total, Message: j.Message, Error: j.Error, Owner: j.Owner}
}
