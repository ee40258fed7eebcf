//! gradcheck (todo)
