//! The one buffer every decoder request reads the encoder output from.
//!
//! Why one buffer at a fixed address: OpenVINO's CPU plugin (2026.4), with a bf16 decoder,
//! decodes garbage on a request whose `encoder_hidden_states` lies at another address than the
//! earlier requests' of the same compiled decoder (found on a Zen 4 with AVX-512 BF16: copies
//! of the encoder output at fresh addresses lost 9 in 10 words of a home-video track; the same
//! copies written into one buffer lost none; f32 is not affected). The encoder request's own
//! output tensor never moves, which is why unbatched decoding was right; batched windows and
//! their later passes read copies. So every request, batched or not, binds this buffer: it is
//! allocated once for the most windows a batch needs and only reshaped after that; if a later
//! stream needs more, the buffer moves and the decoders are compiled again (`OvWhisper`).
//! The copy costs about a millisecond a window. One buffer is enough because a model decodes
//! one window (or one batch) at a time: a request is done with the slot's contents before the
//! next request fills it (the IR reads the encoder output at a request's first call and keeps
//! the cross-attention K/V in its state).

use crate::error::{OvContext, Result};
use openvino::{ElementType, Shape, Tensor};

pub(super) struct EncoderSlot {
    /// The buffer, `[windows, S, d]` as last filled, room for `capacity` windows.
    tensor: Option<Tensor>,
    capacity: usize,
    /// A reserve dropped an allocated buffer since the last [`Self::take_moved`].
    moved: bool,
}

impl EncoderSlot {
    pub fn new() -> Self {
        Self {
            tensor: None,
            capacity: 1,
            moved: false,
        }
    }

    /// Room for `windows` encoder outputs from the next fill on; the buffer moves if it was
    /// allocated smaller (see [`Self::take_moved`]).
    pub fn reserve(&mut self, windows: usize) {
        if windows > self.capacity {
            self.capacity = windows;
            self.moved |= self.tensor.take().is_some();
        }
    }

    /// Whether the buffer moved since the last call: the compiled decoder must not see the new
    /// one (compile it again).
    pub fn take_moved(&mut self) -> bool {
        std::mem::take(&mut self.moved)
    }

    /// `parts` (`[1, S, d]` each) stacked into the buffer, which is returned shaped
    /// `[parts.len(), S, d]`. More parts than reserved is the caller's error (reserve first).
    pub fn fill(&mut self, parts: &[&Tensor]) -> Result<&Tensor> {
        assert!(
            parts.len() <= self.capacity,
            "reserve the encoder slot before filling it"
        );
        let dims = parts[0]
            .get_shape()
            .ov(|| "encoder output shape".into())?
            .get_dimensions()
            .to_vec();
        let tensor = match &mut self.tensor {
            Some(t) => t,
            empty => empty.insert(allocate(&dims, self.capacity)?),
        };
        let mut shape = dims;
        shape[0] = parts.len() as i64;
        let shape = Shape::new(&shape).ov(|| "shape".into())?;
        // Shrinking keeps the allocation (and so the address). The crate's `set_shape` returns
        // a second owner of the same C handle: dropping it would free the tensor.
        std::mem::forget(
            tensor
                .set_shape(&shape)
                .ov(|| "reshaping the encoder slot".into())?,
        );
        let data = tensor.get_data_mut::<f32>().ov(|| "encoder slot".into())?;
        let each = data.len() / parts.len();
        for (chunk, p) in data.chunks_exact_mut(each).zip(parts) {
            chunk.copy_from_slice(p.get_data::<f32>().ov(|| "encoder output".into())?);
        }
        Ok(tensor)
    }
}

fn allocate(window_dims: &[i64], windows: usize) -> Result<Tensor> {
    let mut dims = window_dims.to_vec();
    dims[0] = windows as i64;
    let shape = Shape::new(&dims).ov(|| "shape".into())?;
    Tensor::new(ElementType::F32, &shape).ov(|| "allocating the encoder slot".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(d: usize, value: f32) -> Tensor {
        let shape = Shape::new(&[1, 4, d as i64]).unwrap();
        let mut t = Tensor::new(ElementType::F32, &shape).unwrap();
        t.get_data_mut::<f32>().unwrap().fill(value);
        t
    }

    fn address(t: &Tensor) -> usize {
        t.get_data::<f32>().unwrap().as_ptr() as usize
    }

    #[test]
    fn fills_of_any_size_up_to_the_reserve_keep_one_address() {
        crate::runtime::load_runtime().unwrap();
        let (a, b, c) = (window(3, 1.0), window(3, 2.0), window(3, 3.0));
        let mut slot = EncoderSlot::new();
        slot.reserve(3);
        assert!(!slot.take_moved(), "nothing allocated yet: nothing moves");
        let first = address(slot.fill(&[&a]).unwrap());
        let three = slot.fill(&[&a, &b, &c]).unwrap();
        assert_eq!(address(three), first);
        assert_eq!(three.get_shape().unwrap().get_dimensions(), &[3, 4, 3]);
        let data = three.get_data::<f32>().unwrap();
        assert_eq!((data[0], data[12], data[35]), (1.0, 2.0, 3.0));
        let one = slot.fill(&[&c]).unwrap();
        assert_eq!(address(one), first);
        assert_eq!(one.get_data::<f32>().unwrap(), &[3.0; 12]);
    }

    #[test]
    fn a_larger_reserve_after_the_first_fill_moves_the_buffer() {
        crate::runtime::load_runtime().unwrap();
        let a = window(2, 1.0);
        let mut slot = EncoderSlot::new();
        slot.fill(&[&a]).unwrap();
        slot.reserve(1);
        assert!(!slot.take_moved());
        slot.reserve(2);
        assert!(slot.take_moved(), "room for 2 needs a new buffer");
        assert_eq!(slot.fill(&[&a, &a]).unwrap().get_size().unwrap(), 16);
        slot.reserve(2);
        assert!(!slot.take_moved());
    }
}
