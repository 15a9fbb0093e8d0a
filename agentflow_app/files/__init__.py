"""Files as first-class data: the byte store (disk or S3), content sniffing, safe names and
the small reference a document, an input or an output carries instead of bytes."""
