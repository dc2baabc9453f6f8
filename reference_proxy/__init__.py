"""A small, correct proxy from the component protocol to the OpenAI Realtime API, with switchable known defects."""
