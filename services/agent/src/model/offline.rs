//! The offline planner.
