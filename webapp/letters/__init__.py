"""The letters domain: the only writer of a letter's state and of its evidence."""
