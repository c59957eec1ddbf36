"""Great Expectations at the boundaries: raw data coming in, audiences going out."""
