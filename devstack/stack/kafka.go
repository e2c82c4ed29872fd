package stack

import (
	"errors"
	"path/filepath"
)

// StopKafka stops the embedded broker, keeping its data, as an outage would: the services keep
// running and their outboxes hold events until StartKafka brings it back. For fault tests; it is
// an error with an external broker (KAFKA_BROKERS), which the stack does not own.
func (s *Stack) StopKafka() error {
	if !s.ep.LocalKafka {
		return errors.New("kafka is external (KAFKA_BROKERS): the dev stack cannot stop it")
	}
	s.kafkaMu.Lock()
	defer s.kafkaMu.Unlock()
	if s.kafka != nil {
		s.kafka.Close() // writes the broker's state to its data directory
		s.kafka = nil
	}
	return nil
}

// StartKafka starts the embedded broker on its port from its data directory (a no-op while it
// runs).
func (s *Stack) StartKafka() error {
	if !s.ep.LocalKafka {
		return errors.New("kafka is external (KAFKA_BROKERS): the dev stack cannot start it")
	}
	s.kafkaMu.Lock()
	defer s.kafkaMu.Unlock()
	if s.kafka != nil {
		return nil
	}
	c, err := startKafka(filepath.Join(s.o.DataDir, "kafka"), s.o.port(offKafka), s.console.Writer("kafka"))
	if err != nil {
		return err
	}
	s.kafka = c
	return nil
}
