// report_page.hpp: the stylesheet and the drawing script that
// html_report.cpp inlines into every report (internal to berth_live).
#pragma once

#include <string_view>

namespace berth::live::report_page {

/// The page's CSS.
extern const std::string_view stylesheet;
/// The page's JavaScript: reads the JSON in #berth-data, draws every
/// figure.chart as SVG and marks it (data-drawn, data-points, data-error)
/// and the body (data-charts-drawn).
extern const std::string_view script;

}  // namespace berth::live::report_page
