//! `avg(vecx)` and `sum(vecx)`.
//!
//! The transition state is a `float8[]`: `[count, sum_1, ..., sum_d]`. Summing in f64 keeps the
//! average accurate over millions of rows; the state is a plain array, so partial states from
//! parallel workers combine by adding them ([`combine`]) with no serialisation functions.
//! An empty state (`[0]`, the initial condition) stands for "no rows yet".
use crate::error::{check_dims, check_finite, VecxError};

/// Adds one vector to the state (the state function).
pub fn accumulate(state: &mut Vec<f64>, v: &[f32]) -> Result<(), VecxError> {
    if state.len() <= 1 {
        let count = state.first().copied().unwrap_or(0.0);
        state.clear();
        state.push(count);
        state.extend(std::iter::repeat_n(0.0, v.len()));
    }
    let dims = state.len() - 1;
    if dims != v.len() {
        return Err(VecxError::dimension_mismatch(dims, v.len()));
    }
    state[0] += 1.0;
    for (s, x) in state[1..].iter_mut().zip(v) {
        *s += *x as f64;
    }
    Ok(())
}

/// Merges two partial states (the combine function of a parallel aggregate).
pub fn combine(a: &[f64], b: &[f64]) -> Result<Vec<f64>, VecxError> {
    if a.len() <= 1 || a.first() == Some(&0.0) {
        return Ok(b.to_vec());
    }
    if b.len() <= 1 || b.first() == Some(&0.0) {
        return Ok(a.to_vec());
    }
    if a.len() != b.len() {
        return Err(VecxError::dimension_mismatch(a.len() - 1, b.len() - 1));
    }
    Ok(a.iter().zip(b).map(|(x, y)| x + y).collect())
}

fn finish(state: &[f64], divide: bool) -> Result<Option<Vec<f32>>, VecxError> {
    let count = match state.first() {
        Some(c) if *c > 0.0 && state.len() > 1 => *c,
        _ => return Ok(None),
    };
    // The final functions are callable from SQL with any float8[], so the state may hold more
    // sums than a vecx can have dimensions: an error (54000), never an oversized value.
    check_dims(state.len() - 1)?;
    let values: Vec<f32> = state[1..]
        .iter()
        .map(|s| {
            if divide {
                (s / count) as f32
            } else {
                *s as f32
            }
        })
        .collect();
    check_finite(&values).map_err(|_| VecxError::overflow())?;
    Ok(Some(values))
}

/// The average, or `None` (SQL NULL) when no rows were aggregated.
pub fn average(state: &[f64]) -> Result<Option<Vec<f32>>, VecxError> {
    finish(state, true)
}

/// The sum, or `None` when no rows were aggregated; a sum beyond float4's range is an error.
pub fn sum(state: &[f64]) -> Result<Option<Vec<f32>>, VecxError> {
    finish(state, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn avg_and_sum() {
        let mut s = vec![0.0];
        accumulate(&mut s, &[1.0, 2.0]).unwrap();
        accumulate(&mut s, &[3.0, 6.0]).unwrap();
        assert_eq!(average(&s).unwrap(), Some(vec![2.0, 4.0]));
        assert_eq!(sum(&s).unwrap(), Some(vec![4.0, 8.0]));
        assert_eq!(average(&[0.0]).unwrap(), None);
        assert!(accumulate(&mut s, &[1.0]).is_err());
    }

    #[test]
    fn combine_matches_sequential() {
        let rows: Vec<Vec<f32>> = (0..10).map(|i| vec![i as f32, -(i as f32)]).collect();
        let mut all = vec![0.0];
        rows.iter().for_each(|r| accumulate(&mut all, r).unwrap());
        let (mut a, mut b) = (vec![0.0], vec![0.0]);
        rows[..4]
            .iter()
            .for_each(|r| accumulate(&mut a, r).unwrap());
        rows[4..]
            .iter()
            .for_each(|r| accumulate(&mut b, r).unwrap());
        assert_eq!(combine(&a, &b).unwrap(), all);
        assert_eq!(combine(&[0.0], &b).unwrap(), b);
        assert_eq!(combine(&a, &[0.0]).unwrap(), a);
    }

    #[test]
    fn oversized_states_are_refused() {
        let mut state = vec![1.0; crate::MAX_DIM + 2];
        assert_eq!(
            sum(&state).unwrap_err().kind,
            ErrorKind::ProgramLimitExceeded
        );
        assert_eq!(
            average(&state).unwrap_err().kind,
            ErrorKind::ProgramLimitExceeded
        );
        state.truncate(crate::MAX_DIM + 1);
        assert_eq!(sum(&state).unwrap().map(|v| v.len()), Some(crate::MAX_DIM));
    }

    #[test]
    fn sum_overflow_is_an_error() {
        let mut s = vec![0.0];
        accumulate(&mut s, &[f32::MAX]).unwrap();
        accumulate(&mut s, &[f32::MAX]).unwrap();
        assert_eq!(sum(&s).unwrap_err().kind, ErrorKind::NumericValueOutOfRange);
        assert_eq!(average(&s).unwrap(), Some(vec![f32::MAX]));
    }
}
