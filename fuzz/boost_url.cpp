// Boost.URL compiled from its sources (its documented header-only mode,
// boost/url/src.hpp) into the url harness, so that the parser behind
// http/url.cpp is instrumented for coverage and checked by the sanitizers
// like hearth's own code; the other harnesses link the prebuilt library.
#include <boost/url/src.hpp>
