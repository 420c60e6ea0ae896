//! Gemini API simulator (library).
