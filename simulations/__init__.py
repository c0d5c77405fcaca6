"""One thin script per theorem or phenomenon; the CLI discovers every module here that defines NAME."""
