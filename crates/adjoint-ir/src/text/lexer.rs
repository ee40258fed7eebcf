//! Tokens of the text IR.
