// A camera built the way Unreal builds one, for the plugin's C++ tests: UE world axes (X
// forward, Y right, Z up), FReversedZPerspectiveMatrix, a translated view matrix. Every
// point can also be projected by explicit formulas, without any matrix, which is what the
// tests compare the plugin's matrix route against.
#pragma once

#include "ReverieMath.h"

#include <cmath>

namespace UeCamera
{
using namespace ReverieMath;

struct V3
{
	double X, Y, Z;
};
inline V3 Sub(V3 A, V3 B) { return {A.X - B.X, A.Y - B.Y, A.Z - B.Z}; }
inline double Dot(V3 A, V3 B) { return A.X * B.X + A.Y * B.Y + A.Z * B.Z; }

struct Camera
{
	V3 Position{0, 0, 0};
	double YawDeg = 0, PitchDeg = 0;
	double HalfFovXDeg = 45;
	double Width = 320, Height = 180;
	double Near = 10;   // cm
	double Far = 0;     // 0: infinite, as the engine's default perspective
	double PreViewOffset[3] = {0, 0, 0}; // PreViewTranslation = -Position + offset

	V3 Forward() const
	{
		const double Y = YawDeg * M_PI / 180, P = PitchDeg * M_PI / 180;
		return {std::cos(P) * std::cos(Y), std::cos(P) * std::sin(Y), std::sin(P)};
	}
	V3 Right() const
	{
		const double Y = YawDeg * M_PI / 180;
		return {-std::sin(Y), std::cos(Y), 0};
	}
	V3 Up() const
	{
		const double Y = YawDeg * M_PI / 180, P = PitchDeg * M_PI / 180;
		return {-std::sin(P) * std::cos(Y), -std::sin(P) * std::sin(Y), std::cos(P)};
	}
	double TanHalfFov() const { return std::tan(HalfFovXDeg * M_PI / 180); }

	// The explicit route: view coordinates and pixel position without any matrix.
	V3 ToView(V3 World) const
	{
		const V3 D = Sub(World, Position);
		return {Dot(D, Right()), Dot(D, Up()), Dot(D, Forward())};
	}
	double PixelX(V3 World) const
	{
		const V3 V = ToView(World);
		return Width * 0.5 * (1 + V.X / (V.Z * TanHalfFov()));
	}
	double PixelY(V3 World) const
	{
		const V3 V = ToView(World);
		return Height * 0.5 * (1 - V.Y * (Width / Height) / (V.Z * TanHalfFov()));
	}

	// The engine's route: FReversedZPerspectiveMatrix and a translated view matrix.
	Mat4 Projection() const
	{
		Mat4 P;
		P.M[0][0] = 1 / TanHalfFov();
		P.M[1][1] = Width / TanHalfFov() / Height;
		P.M[2][2] = Far == 0 ? 0 : Near / (Near - Far);
		P.M[2][3] = 1;
		P.M[3][2] = Far == 0 ? Near : -Far * Near / (Near - Far);
		P.M[3][3] = 0;
		return P;
	}
	ViewTransform Transform() const
	{
		ViewTransform T;
		for (int I = 0; I < 3; ++I)
		{
			const double Pos[3] = {Position.X, Position.Y, Position.Z};
			T.PreViewTranslation[I] = -Pos[I] + PreViewOffset[I];
		}
		Mat4 Rot;
		const V3 R = Right(), U = Up(), F = Forward();
		const double Rs[3] = {R.X, R.Y, R.Z}, Us[3] = {U.X, U.Y, U.Z}, Fs[3] = {F.X, F.Y, F.Z};
		for (int I = 0; I < 3; ++I)
		{
			Rot.M[I][0] = Rs[I];
			Rot.M[I][1] = Us[I];
			Rot.M[I][2] = Fs[I];
		}
		// Translated world = world + PreViewTranslation, so the camera sits at -offset.
		const Mat4 ToCamera = Translation(-PreViewOffset[0], -PreViewOffset[1], -PreViewOffset[2]);
		T.TranslatedView = Multiply(ToCamera, Rot);
		T.Projection = Projection();
		return T;
	}
	// Device z the GPU would store for this point: float, as in the depth buffer.
	float DeviceZ(V3 World) const
	{
		const V3 V = ToView(World);
		const Mat4 P = Projection();
		return static_cast<float>((V.Z * P.M[2][2] + P.M[3][2]) / V.Z);
	}
};

// A point that camera C sees at pixel (Px, Py) at view depth Z.
inline V3 PointAt(const Camera& C, double Px, double Py, double Z)
{
	const double X = (Px / (C.Width * 0.5) - 1) * Z * C.TanHalfFov();
	const double Y = (1 - Py / (C.Height * 0.5)) * Z * C.TanHalfFov() * C.Height / C.Width;
	const V3 R = C.Right(), U = C.Up(), F = C.Forward();
	return {C.Position.X + X * R.X + Y * U.X + Z * F.X, C.Position.Y + X * R.Y + Y * U.Y + Z * F.Y,
			C.Position.Z + X * R.Z + Y * U.Z + Z * F.Z};
}

} // namespace UeCamera
