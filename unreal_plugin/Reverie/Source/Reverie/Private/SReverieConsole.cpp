#include "SReverieConsole.h"

#include "Framework/Application/SlateApplication.h"
#include "InputCoreTypes.h"
#include "Styling/CoreStyle.h"
#include "Widgets/Input/SButton.h"
#include "Widgets/Input/SEditableTextBox.h"
#include "Widgets/Layout/SBorder.h"
#include "Widgets/Layout/SScrollBox.h"
#include "Widgets/Layout/SWrapBox.h"
#include "Widgets/SBoxPanel.h"
#include "Widgets/Text/STextBlock.h"
#include "ReverieSession.h"

namespace
{
constexpr int32 kMaxLogLines = 200;
constexpr int32 kMaxHistory = 100;
const FLinearColor kReplyColor(0.85f, 0.85f, 0.85f);
const FLinearColor kErrorColor(1.0f, 0.45f, 0.4f);
const FLinearColor kNoticeColor(0.55f, 0.75f, 1.0f);
const FLinearColor kTypedColor(1.0f, 1.0f, 1.0f);

FSlateFontInfo ConsoleFont()
{
	return FCoreStyle::GetDefaultFontStyle("Mono", 10);
}
} // namespace

void SReverieConsole::Construct(const FArguments& InArgs)
{
	Session = InArgs._Session;
	OnClose = InArgs._OnClose;
	check(Session.IsValid());

	ChildSlot.HAlign(HAlign_Fill).VAlign(VAlign_Bottom).Padding(FMargin(24.0f))
	[
		SNew(SBorder)
		.BorderImage(FCoreStyle::Get().GetBrush("GenericWhiteBox"))
		.BorderBackgroundColor(FLinearColor(0.0f, 0.0f, 0.0f, 0.72f))
		.Padding(FMargin(8.0f))
		[
			SNew(SVerticalBox)
			+ SVerticalBox::Slot().AutoHeight()
			[
				SNew(STextBlock)
				.Font(ConsoleFont())
				.ColorAndOpacity(FLinearColor(0.6f, 0.9f, 0.6f))
				.Text(this, &SReverieConsole::StatsText)
			]
			+ SVerticalBox::Slot().AutoHeight().Padding(FMargin(0.0f, 6.0f))
			[
				SAssignNew(Presets, SWrapBox).UseAllottedSize(true).InnerSlotPadding(FVector2D(4.0f, 4.0f))
			]
			+ SVerticalBox::Slot().MaxHeight(240.0f)
			[
				SAssignNew(Log, SScrollBox)
			]
			+ SVerticalBox::Slot().AutoHeight().Padding(FMargin(0.0f, 6.0f, 0.0f, 0.0f))
			[
				SAssignNew(Input, SEditableTextBox)
				.Font(ConsoleFont())
				.HintText(FText::FromString(TEXT("a prompt, or /help")))
				.ClearKeyboardFocusOnCommit(false)
				.OnTextCommitted(this, &SReverieConsole::OnCommitted)
				.OnKeyDownHandler(this, &SReverieConsole::OnInputKeyDown)
			]
		]
	];

	NoticeHandle = Session->OnNotice.AddRaw(this, &SReverieConsole::AddLine, kNoticeColor);
	AddLine(TEXT("Reverie console: type a prompt, /help for commands, Escape to close."), kReplyColor);
	RefreshPresets();
}

SReverieConsole::~SReverieConsole()
{
	if (Session.IsValid())
	{
		Session->OnNotice.Remove(NoticeHandle);
	}
}

void SReverieConsole::FocusInput()
{
	FSlateApplication::Get().SetKeyboardFocus(Input, EFocusCause::SetDirectly);
}

FText SReverieConsole::StatsText() const
{
	const FReverieStats& Stats = Session->GetStats();
	if (!Stats.bConnected)
	{
		return FText::FromString(TEXT("Reverie: waiting for the daemon (reverie serve)"));
	}
	if (!Stats.bHaveStats)
	{
		return FText::FromString(TEXT("Reverie: connected"));
	}
	auto Ms = [](double Value) { return Value < 0.0 ? FString(TEXT("-")) : FString::Printf(TEXT("%.1f ms"), Value); };
	return FText::FromString(FString::Printf(TEXT("Reverie  %.1f fps   latency p50 %s  p95 %s   dropped %llu   failed %llu"),
											 Stats.Fps, *Ms(Stats.LatencyP50Ms), *Ms(Stats.LatencyP95Ms),
											 static_cast<unsigned long long>(Stats.Dropped),
											 static_cast<unsigned long long>(Stats.Failed)));
}

void SReverieConsole::AddLine(const FString& Text, const FLinearColor& Color)
{
	if (Text.IsEmpty())
	{
		return;
	}
	const TSharedRef<SWidget> Line = SNew(STextBlock).Font(ConsoleFont()).ColorAndOpacity(Color).AutoWrapText(true).Text(
		FText::FromString(Text));
	Log->AddSlot()[Line];
	LogLines.Add(Line);
	while (LogLines.Num() > kMaxLogLines)
	{
		Log->RemoveSlot(LogLines[0]);
		LogLines.RemoveAt(0);
	}
	Log->ScrollToEnd();
}

void SReverieConsole::Submit(const FString& Line)
{
	AddLine(TEXT("> ") + Line, kTypedColor);
	TWeakPtr<SReverieConsole> Weak = SharedThis(this);
	Session->ConsoleExec(Line, [Weak](reverie_result Result, const FString& Reply)
						 {
							 const TSharedPtr<SReverieConsole> Console = Weak.Pin();
							 if (!Console.IsValid())
							 {
								 return; // closed meanwhile
							 }
							 Console->AddLine(Reply, Result < 0 ? kErrorColor : kReplyColor);
							 if (Result == REVERIE_QUIT)
							 {
								 Console->OnClose.ExecuteIfBound();
							 }
						 });
}

void SReverieConsole::RefreshPresets()
{
	TWeakPtr<SReverieConsole> Weak = SharedThis(this);
	Session->ListPresets([Weak](reverie_result Result, const TArray<FReveriePreset>& List)
						 {
							 const TSharedPtr<SReverieConsole> Console = Weak.Pin();
							 if (!Console.IsValid() || Result != REVERIE_OK)
							 {
								 return; // no daemon yet: typing /preset later lists them
							 }
							 Console->Presets->ClearChildren();
							 for (const FReveriePreset& Preset : List)
							 {
								 const FString Name = Preset.Name;
								 SReverieConsole* Self = Console.Get();
								 Console->Presets->AddSlot()
								 [
									 SNew(SButton)
									 .Text(FText::FromString(Name))
									 .ToolTipText(FText::FromString(Preset.Prompt))
									 .OnClicked_Lambda([Self, Name]()
									 {
										 Self->Submit(TEXT("/preset ") + Name);
										 return FReply::Handled();
									 })
								 ];
							 }
						 });
}

void SReverieConsole::OnCommitted(const FText& Text, ETextCommit::Type CommitType)
{
	if (CommitType != ETextCommit::OnEnter)
	{
		return;
	}
	const FString Line = Text.ToString().TrimStartAndEnd();
	Input->SetText(FText::GetEmpty());
	HistoryCursor = INDEX_NONE;
	if (Line.IsEmpty())
	{
		return;
	}
	if (History.Num() == 0 || History.Last() != Line)
	{
		History.Add(Line);
		if (History.Num() > kMaxHistory)
		{
			History.RemoveAt(0);
		}
	}
	Submit(Line);
}

FReply SReverieConsole::OnInputKeyDown(const FGeometry& Geometry, const FKeyEvent& KeyEvent)
{
	const FKey Key = KeyEvent.GetKey();
	if (Key == EKeys::Escape)
	{
		OnClose.ExecuteIfBound();
		return FReply::Handled();
	}
	if ((Key == EKeys::Up || Key == EKeys::Down) && History.Num() > 0)
	{
		if (Key == EKeys::Up)
		{
			HistoryCursor = HistoryCursor == INDEX_NONE ? History.Num() - 1 : FMath::Max(0, HistoryCursor - 1);
		}
		else if (HistoryCursor != INDEX_NONE)
		{
			HistoryCursor = HistoryCursor + 1 < History.Num() ? HistoryCursor + 1 : INDEX_NONE;
		}
		Input->SetText(HistoryCursor == INDEX_NONE ? FText::GetEmpty() : FText::FromString(History[HistoryCursor]));
		return FReply::Handled();
	}
	return FReply::Unhandled();
}
