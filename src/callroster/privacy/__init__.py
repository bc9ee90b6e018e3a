"""Privacy engine: keys, encryption of personal data, normalisation, blind indexes."""
