// Command dlq-replay puts the events a consumer group dead-lettered back in front of that group
// alone, once the cause is fixed (docs/operations.md#replaying-dead-letters):
//
//	dlq-replay -topic parley.auth.v1 -group profile -list   print the dead letters not replayed yet
//	dlq-replay -topic parley.auth.v1 -group profile         replay them
//
// It copies the records of <topic>.dlq.<group> that no earlier run copied to
// <topic>.replay.<group>, which only that group's consumers read (platform/events'
// ReplayDeadLetters), and prints one line per record. KAFKA_BROKERS names the brokers, and the
// KAFKA_TLS… and KAFKA_SASL_… variables how to reach them, as for the services (docs/deploy.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"

	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkaconn"
	"github.com/parleyhq/parley/platform/server"
)

func main() {
	server.Main("dlq-replay", func(ctx context.Context, logger *slog.Logger, args []string) error {
		return run(ctx, logger, args, os.Stdout)
	})
}

// Config is what the command reads from the environment: the variables every process shares
// (KAFKA_BROKERS among them).
type Config struct {
	config.Common
}

func (c Config) validate() error {
	if len(c.KafkaBrokers) == 0 {
		return errors.New("KAFKA_BROKERS: at least one broker address is required")
	}
	return nil
}

// run parses args, replays (or with -list only lists) the dead letters and prints one line per
// record to stdout.
func run(ctx context.Context, logger *slog.Logger, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("dlq-replay", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the usage goes into the returned error, through the logger
	topic := fs.String("topic", "", "the topic the events came from, e.g. parley.auth.v1 (required)")
	group := fs.String("group", "", "the consumer group that dead-lettered them, e.g. profile (required)")
	list := fs.Bool("list", false, "print the dead letters not replayed yet; replay nothing")
	if err := fs.Parse(args); err != nil || *topic == "" || *group == "" || fs.NArg() > 0 {
		if err == nil {
			err = errors.New("-topic and -group are required, and nothing else")
		}
		return fmt.Errorf("%w: usage: dlq-replay -topic <topic> -group <consumer group> [-list]", err)
	}
	cfg, err := config.Start(logger, Config{}, Config.validate)
	if err != nil {
		return err
	}
	kafkaOpts, err := kafkaconn.Options(cfg.Kafka)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	_, err = events.ReplayDeadLetters(ctx, events.ReplayConfig{
		Brokers: cfg.KafkaBrokers, ClientOpts: kafkaOpts, Topic: *topic, Group: *group, List: *list, Logger: logger,
	}, func(d events.DeadLetter) {
		fmt.Fprintf(stdout, "%s/%d@%d event_id=%s type=%s key=%s from=%s at=%s attempts=%s error=%s\n",
			events.DeadLetterTopic(*topic, *group), d.Partition, d.Offset, d.EventID, d.EventType, strconv.Quote(d.Key),
			d.From, d.At, d.Attempts, strconv.Quote(d.Error))
	})
	return err
}
