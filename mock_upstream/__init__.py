"""Mock OpenAI Realtime upstream: scenario model (data), pure engine, websockets adapter."""
