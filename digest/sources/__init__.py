"""Listing sources: what a source is (`base.SourceConfig`), one pure parser per format
(`text`, `hf`, `arxiv`), sniffing (`detect`), choosing the parser (`parse`), the HTTP fetcher
(`http`) and local files (`files`). Import the module you need: this package imports nothing,
so reading the settings does not load every parser."""
