//! A bitmap backend whose text comes from the embedded DejaVu Sans.
//!
//! plotters' own bitmap text needs either system fonts (`ttf`, via
//! font-kit) or a process-wide font registry (`ab_glyph`). The first fails
//! on machines with no fonts installed; the second is a cargo feature that
//! would also switch ouro-train's SVG charts to the registry when both
//! crates are linked into one binary. Overriding the backend's two text
//! methods keeps the font private to this crate.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use plotters::prelude::BitMapBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        FontRef::try_from_slice(FONT_BYTES).expect("embedded DejaVuSans.ttf parses")
    })
}

/// Glyph positions of `text` at `size` px: the laid-out box is
/// `(0, 0)..(width, height)` with the baseline at `ascent`.
struct Layout {
    width: f32,
    height: f32,
    glyphs: Vec<ab_glyph::Glyph>,
}

fn layout(text: &str, size: f64) -> Layout {
    let font = font();
    let scaled = font.as_scaled(PxScale::from(size as f32));
    let ascent = scaled.ascent();
    let mut x = 0f32;
    let mut prev = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            x += scaled.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(size as f32, ab_glyph::point(x, ascent)));
        x += scaled.h_advance(id);
        prev = Some(id);
    }
    Layout {
        width: x,
        height: ascent - scaled.descent(),
        glyphs,
    }
}

/// [`BitMapBackend`] with text drawn from the embedded font.
pub struct TextBitmap<'a> {
    inner: BitMapBackend<'a>,
}

impl<'a> TextBitmap<'a> {
    /// Draws into `buf`, an RGB buffer of `w * h * 3` bytes.
    pub fn with_buffer(buf: &'a mut [u8], size: (u32, u32)) -> Self {
        TextBitmap {
            inner: BitMapBackend::with_buffer(buf, size),
        }
    }
}

type Error<'a> = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

impl<'a> DrawingBackend for TextBitmap<'a> {
    type ErrorType = Error<'a>;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }
    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }
    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }
    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        (iw, ih): (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, (iw, ih), src)
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let l = layout(text, style.size());
        Ok((l.width.ceil() as u32, l.height.ceil() as u32))
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let l = layout(text, style.size());
        let (width, height) = (l.width.round() as i32, l.height.round() as i32);
        // Same anchor and rotation rules as plotters' default implementation,
        // so labels sit where the chart layout expects them.
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let trans = style.transform();
        let (w, h) = self.get_size();
        for glyph in l.glyphs {
            let Some(outline) = font().outline_glyph(glyph) else {
                continue;
            };
            let b = outline.px_bounds();
            let mut pixels = Vec::new();
            outline.draw(|gx, gy, c| pixels.push((gx as i32, gy as i32, c)));
            for (gx, gy, c) in pixels {
                if c <= 0.0 {
                    continue;
                }
                let (x, y) = trans.transform(b.min.x as i32 + gx + dx, b.min.y as i32 + gy + dy);
                let (x, y) = (pos.0 + x, pos.1 + y);
                if x >= 0 && y >= 0 && (x as u32) < w && (y as u32) < h {
                    let a = color.alpha * f64::from(c.min(1.0));
                    self.inner.draw_pixel(
                        (x, y),
                        BackendColor {
                            alpha: a,
                            rgb: color.rgb,
                        },
                    )?;
                }
            }
        }
        Ok(())
    }
}
